"""The offline loop: batch → loss → step.

One explicit loop for every method that learns from a fixed dataset (SFT, reward models, the DPO family).
An algorithm supplies:
- `example_length(example)` and `collate(pad_id)`: how its examples are length-grouped and padded;
- `weight(batch)`: the units (tokens, pairs) the batch's summed loss is over;
- `loss(model, batch) -> (summed loss, {metric: summed value})`: metrics are logged as sum / weight;
- `evaluate(model, batches, accelerator) -> {metric: value}`;
- optionally `begin_step(step, total_steps)`: called once before each optimizer step (e.g. a β schedule, which
  must move per optimizer step, not per micro-batch).
The loop owns accumulation, clipping, scheduling, logging, evaluation (held-out, and a fixed sample of
training examples when `train.eval_train_samples` > 0), checkpoints, resume and signals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from alignlab.config import Config
from alignlab.data.batching import LengthGroupedBatchSampler
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.rundir import RunDir
from alignlab.training import checkpoint as ckpt
from alignlab.training.memory import memory_report
from alignlab.training.optim import build_optimizer, build_scheduler
from alignlab.training.progress import progress_bar
from alignlab.training.signals import (
    GracefulStop,
    Interrupted,
    TrainingDiverged,
    diverged_message,
    finite_everywhere,
    stop_requested,
)


@dataclass
class OfflineRun:
    """What the loop needs, assembled by a pipeline."""

    cfg: Config
    run: RunDir
    accelerator: object
    model: torch.nn.Module
    tokenizer: object
    algorithm: object
    train_examples: list[dict]
    eval_examples: list[dict] | None
    log: MetricsLog
    sample_eval: Callable[[torch.nn.Module], dict] | None = None
    """Held-out sampling evaluation of a policy (reward, gold, KL, diversity), logged as split `eval_samples`
    at every evaluation; run on the main process only, without touching the training RNG."""


def make_loader(examples, cfg: Config, algorithm, pad_id: int, shuffle: bool
                ) -> tuple[DataLoader, LengthGroupedBatchSampler]:
    sampler = LengthGroupedBatchSampler([algorithm.example_length(e) for e in examples], cfg.train.batch_size,
                                        cfg.seed, group_by_length=cfg.train.group_by_length, shuffle=shuffle)
    return DataLoader(examples, batch_sampler=sampler, collate_fn=algorithm.collate(pad_id)), sampler


def total_steps(cfg: Config, batches_per_epoch: int) -> int:
    return cfg.train.max_steps or cfg.train.epochs * math.ceil(batches_per_epoch / cfg.train.grad_accum)


def train_offline(r: OfflineRun, resume_from=None) -> dict:
    """Train to the configured number of optimizer steps; returns the last train and eval metrics."""
    cfg, acc = r.cfg, r.accelerator
    loader, sampler = make_loader(r.train_examples, cfg, r.algorithm, r.tokenizer.pad_token_id, shuffle=True)
    n_steps = total_steps(cfg, len(loader))
    optimizer = build_optimizer(r.model, cfg.optimizer)
    scheduler = build_scheduler(optimizer, cfg.scheduler, n_steps)
    model, optimizer, loader = acc.prepare(r.model, optimizer, loader)
    eval_loaders = _eval_loaders(r, acc)
    state = ckpt.LoopState()
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler, acc)
        if acc.is_main_process:
            r.log.truncate_after(state.step)
    if state.step == 0:
        _evaluate(r, model, eval_loaders, 0, 0.0)  # the starting point every later eval is compared with
    model.train()
    last = {}
    begin_step = getattr(r.algorithm, "begin_step", lambda step, total: None)
    with GracefulStop() as stop, progress_bar(f"{r.algorithm.name} · {cfg.name}", n_steps, state.step,
                                              enabled=cfg.logging.progress and acc.is_main_process) as bar:
        while state.step < n_steps:
            batches = acc.skip_first_batches(loader, state.batch_in_epoch) if state.batch_in_epoch else loader
            # accelerate's loaders re-seed the sampler from their own iteration counter: pin both to our epoch.
            batches.set_epoch(state.epoch)
            sampler.set_epoch(state.epoch)
            for window in _windows(iter(batches), cfg.train.grad_accum):
                begin_step(state.step, n_steps)
                last.update(_optimizer_step(r, model, optimizer, scheduler, window, state))
                state.step += 1
                state.batch_in_epoch += len(window)
                epoch = state.epoch + state.batch_in_epoch / len(loader)
                _after_step(r, model, optimizer, scheduler, state, eval_loaders, last, epoch, n_steps)
                bar.update(state.step, loss=last["loss"])
                if stop_requested(stop, acc):
                    folder = _save(r, model, optimizer, scheduler, state)
                    raise Interrupted(stop.signum, str(folder))
                if state.step >= n_steps:
                    break
            else:
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                _end_of_epoch(r, model, state, eval_loaders, n_steps)
    return _finish(r, model, optimizer, scheduler, state, eval_loaders, last, len(loader))


def _windows(it, size: int):
    """Group micro-batches into accumulation windows; the last window of an epoch may be short."""
    window = []
    for batch in it:
        window.append(batch)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def _optimizer_step(r: OfflineRun, model, optimizer, scheduler, window, state) -> dict:
    acc, algo = r.accelerator, r.algorithm
    t0 = time.perf_counter()
    weight = max(1, sum(algo.weight(b) for b in window))
    loss_sum, real_tokens, padded_tokens, sums = 0.0, 0, 0, {}
    for i, batch in enumerate(window):
        sync = nullcontext() if i == len(window) - 1 else acc.no_sync(model)
        with sync, acc.autocast():
            loss, metrics = algo.loss(model, batch)
        if not finite_everywhere(loss, acc):
            raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite loss", state.step + 1))
        acc.backward(loss / weight)
        loss_sum += loss.item()
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        real_tokens += int(batch["attention_mask"].sum())
        padded_tokens += batch["attention_mask"].numel()
    max_norm = r.cfg.train.max_grad_norm or float("inf")
    grad_norm = acc.clip_grad_norm_(model.parameters(), max_norm)
    if not torch.isfinite(grad_norm) and r.cfg.train.mixed_precision != "fp16":
        raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite gradient norm", state.step + 1))
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - t0
    # Sum over processes so the logged numbers describe the global batch, not rank 0's share.
    names = sorted(sums)
    totals = acc.reduce(torch.tensor([loss_sum, weight, real_tokens, padded_tokens, *(sums[k] for k in names)],
                                     dtype=torch.float64, device=acc.device), reduction="sum").tolist()
    return {"loss": totals[0] / totals[1], "grad_norm": float(grad_norm), "lr": lr,
            "pad_fraction": 1 - totals[2] / max(1.0, totals[3]), "tokens_per_s": totals[2] / max(elapsed, 1e-9),
            **{k: v / totals[1] for k, v in zip(names, totals[4:], strict=True)}}


def _after_step(r, model, optimizer, scheduler, state, eval_loaders, last, epoch, n_steps) -> None:
    cfg = r.cfg.train
    if state.step == 1 and r.accelerator.is_main_process:
        r.log.log(state.step, "memory", memory_report(r.accelerator.unwrap_model(model), optimizer))
    if state.step % cfg.log_every == 0 and r.accelerator.is_main_process:
        r.log.log(state.step, "train", last, epoch=epoch)
    if cfg.eval_every and state.step % cfg.eval_every == 0 and state.step < n_steps:
        _evaluate(r, model, eval_loaders, state.step, epoch)
    if cfg.save_every and state.step % cfg.save_every == 0 and state.step < n_steps:
        _save(r, model, optimizer, scheduler, state)


def _end_of_epoch(r: OfflineRun, model, state, eval_loaders, n_steps: int) -> None:
    """Evaluate at every epoch boundary (the over-fitting diagnostics compare epochs), unless the periodic
    evaluation or the final one already runs at this step."""
    every = r.cfg.train.eval_every
    if r.cfg.train.eval_each_epoch and state.step < n_steps and not (every and state.step % every == 0):
        _evaluate(r, model, eval_loaders, state.step, float(state.epoch))


def _evaluate(r: OfflineRun, model, loaders: dict, step: int, epoch: float) -> dict:
    """Evaluate every split in `loaders` ("eval", maybe "train_eval"), then the sampling evaluation; returns the
    held-out metrics."""
    results = {}
    model.eval()
    for split, loader in loaders.items():
        results[split] = r.algorithm.evaluate(model, loader, r.accelerator)
        if r.accelerator.is_main_process:
            r.log.log(step, split, results[split], epoch=epoch)
    if r.sample_eval is not None and r.accelerator.is_main_process:
        with torch.random.fork_rng():  # sampling must not change the training run's random stream
            r.log.log(step, "eval_samples", r.sample_eval(r.accelerator.unwrap_model(model)), epoch=epoch)
    model.train()
    return results.get("eval", {})


def _save(r: OfflineRun, model, optimizer, scheduler, state):
    folder = r.run.checkpoints / f"step-{state.step}"
    ckpt.save_checkpoint(folder, model, optimizer, scheduler, state, r.accelerator)
    if r.accelerator.is_main_process:
        ckpt.prune_checkpoints(r.run.checkpoints, r.cfg.train.keep_checkpoints)
        r.run.record_wall_time(last_checkpoint=folder.name)
    return folder


def _finish(r, model, optimizer, scheduler, state, eval_loaders, last, epoch_len: int) -> dict:
    """Final log, eval and checkpoint at the last step (periodic eval/save skip that step to avoid doubles)."""
    epoch = state.epoch + state.batch_in_epoch / epoch_len
    if state.step % r.cfg.train.log_every and r.accelerator.is_main_process:
        r.log.log(state.step, "train", last, epoch=epoch)
    final_eval = _evaluate(r, model, eval_loaders, state.step, epoch)
    latest = ckpt.latest_checkpoint(r.run.checkpoints)
    if latest is None or latest.name != f"step-{state.step}":
        _save(r, model, optimizer, scheduler, state)
    return {"train": last, "eval": final_eval, "steps": state.step, "model": model}


def _eval_loaders(r: OfflineRun, acc) -> dict:
    """Held-out examples, plus a fixed seeded sample of training examples to measure the over-fitting gap."""
    splits = {"eval": r.eval_examples or []}
    n = min(r.cfg.train.eval_train_samples, len(r.train_examples))
    if n:
        g = torch.Generator().manual_seed(r.cfg.seed)
        splits["train_eval"] = [r.train_examples[i] for i in torch.randperm(len(r.train_examples), generator=g)[:n]]
    loaders = {}
    for split, examples in splits.items():
        if examples:
            loader, _ = make_loader(examples, r.cfg, r.algorithm, r.tokenizer.pad_token_id, shuffle=False)
            loaders[split] = acc.prepare(loader)
    return loaders
