"""The offline loop: batch → loss → step.

One explicit loop for every method that learns from a fixed dataset (SFT, reward models, the DPO family).
An algorithm is an `OfflineAlgorithm` (below); the loop owns accumulation, clipping, scheduling, logging, evaluation (held-out, and a fixed sample of
training examples when `train.eval_train_samples` > 0), checkpoints, resume and signals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from alignlab.config import Config
from alignlab.data.batching import LengthGroupedBatchSampler, batch_tokens
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import progress_bar
from alignlab.runs.rundir import RunDir
from alignlab.training import checkpoint as ckpt
from alignlab.training.loop import Pace, after_step, evaluation_notice, finish, save
from alignlab.training.optim import apply_optimizer_settings, build_optimizer, build_scheduler
from alignlab.training.signals import (
    GracefulStop,
    Interrupted,
    TrainingDiverged,
    diverged_message,
    finite_everywhere,
    stop_requested,
)


@runtime_checkable
class OfflineAlgorithm(Protocol):
    """What the offline loop needs from a method (`algorithms/sft.py`, `reward_model.py`, `dpo.py`)."""

    name: str

    def example_length(self, example: dict) -> int:
        """The length its examples are grouped by (`train.group_by_length`)."""

    def collate(self, pad_id: int) -> Callable[[list[dict]], dict]:
        """examples → a padded batch."""

    def weight(self, batch: dict) -> int:
        """The units (tokens, pairs) the batch's summed loss is over; a window's loss is divided by their total."""

    def begin_step(self, step: int, total: int) -> None:
        """Called once before each optimizer step (a β schedule moves per optimizer step, not per micro-batch)."""

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        """(summed loss, {metric: summed value}); metrics are logged as sum / weight."""

    def evaluate(self, model: torch.nn.Module, batches, accelerator: Accelerator) -> dict[str, float]:
        """Held-out metrics over `batches`, reduced over processes."""


@dataclass
class OfflineRun:
    """What the loop needs, assembled by a pipeline."""

    cfg: Config
    run: RunDir
    accelerator: Accelerator
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    algorithm: OfflineAlgorithm
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
    # Its own generator: starting an iteration draws a worker seed from it, not from the global RNG that dropout
    # draws from, so a resumed run (which starts a fresh iteration mid-epoch) sees the same dropout masks.
    loader = DataLoader(examples, batch_sampler=sampler, collate_fn=algorithm.collate(pad_id),
                        generator=torch.Generator().manual_seed(cfg.seed))
    return loader, sampler


def total_steps(cfg: Config, batches_per_epoch: int) -> int:
    return cfg.train.max_steps or cfg.train.epochs * math.ceil(batches_per_epoch / cfg.train.grad_accum)


@dataclass
class OfflineState:
    """The offline loop's state in one object (`training/loop.py`'s `LoopStateLike`)."""

    model: torch.nn.Module
    """The prepared (possibly DDP-wrapped) model."""
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    eval_loaders: dict
    """Split ("eval", "train_eval") → prepared loader."""
    total: int
    """Optimizer steps of the run."""
    epoch_len: int
    """Micro-batches per epoch."""
    position: ckpt.LoopState = field(default_factory=ckpt.LoopState)
    last: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    pace: Pace = field(default_factory=Pace)

    @property
    def epoch(self) -> float:
        return self.position.epoch + self.position.batch_in_epoch / self.epoch_len


def train_offline(r: OfflineRun, resume_from=None) -> dict:
    """Train to the configured number of optimizer steps; returns the last train and eval metrics."""
    cfg, acc = r.cfg, r.accelerator
    loader, sampler = make_loader(r.train_examples, cfg, r.algorithm, r.tokenizer.pad_token_id, shuffle=True)
    n_steps = total_steps(cfg, len(loader))
    optimizer = build_optimizer(r.model, cfg.optimizer, fused=cfg.model.fused_kernels)
    scheduler = build_scheduler(optimizer, cfg.scheduler, n_steps)
    model, optimizer, loader = acc.prepare(r.model, optimizer, loader)
    s = OfflineState(model, optimizer, scheduler, _eval_loaders(r, acc), n_steps, len(loader))
    if resume_from is not None:
        s.position = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler, acc)
        apply_optimizer_settings(optimizer, scheduler, cfg.optimizer)
        if acc.is_main_process:
            r.log.truncate_after(s.position.step)
    pos = s.position
    if pos.step == 0:
        _evaluate(r, s, 0.0)  # the starting point every later eval is compared with
    model.train()
    with GracefulStop() as stop, progress_bar(f"{r.algorithm.name} · {cfg.name}", n_steps, pos.step,
                                              enabled=cfg.logging.progress and acc.is_main_process) as bar:
        while pos.step < n_steps:
            batches = acc.skip_first_batches(loader, pos.batch_in_epoch) if pos.batch_in_epoch else loader
            # accelerate's loaders re-seed the sampler from their own iteration counter: pin both to our epoch.
            batches.set_epoch(pos.epoch)
            sampler.set_epoch(pos.epoch)
            for window in _windows(iter(batches), cfg.train.grad_accum):
                r.algorithm.begin_step(pos.step, n_steps)
                s.last.update(_optimizer_step(r, s, window))
                pos.step += 1
                pos.batch_in_epoch += len(window)
                after_step(r, s, lambda: _evaluate(r, s, s.epoch), epoch=s.epoch)
                bar.update(pos.step, loss=s.last["loss"])
                if stop_requested(stop, acc):
                    raise Interrupted(stop.signum, str(save(r, s)))
                if pos.step >= n_steps:
                    break
            else:
                pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
                _end_of_epoch(r, s)
    final_eval = finish(r, s, lambda: _evaluate(r, s, s.epoch), epoch=s.epoch)
    return {"train": s.last, "eval": final_eval, "steps": pos.step, "model": model}


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


def _optimizer_step(r: OfflineRun, s: OfflineState, window) -> dict:
    acc, algo, model = r.accelerator, r.algorithm, s.model
    t0 = time.perf_counter()
    weight = max(1, sum(algo.weight(b) for b in window))
    loss_sum, real_tokens, padded_tokens, sums = 0.0, 0, 0, {}
    for i, batch in enumerate(window):
        sync = nullcontext() if i == len(window) - 1 else acc.no_sync(model)
        with sync, acc.autocast():
            loss, metrics = algo.loss(model, batch)
        if not finite_everywhere(loss, acc):
            raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite loss", s.position.step + 1))
        acc.backward(loss / weight)
        loss_sum += loss.item()
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        real, padded = batch_tokens(batch)
        real_tokens, padded_tokens = real_tokens + real, padded_tokens + padded
    max_norm = r.cfg.train.max_grad_norm or float("inf")
    grad_norm = acc.clip_grad_norm_(model.parameters(), max_norm)
    if not torch.isfinite(grad_norm) and r.cfg.train.mixed_precision != "fp16":
        raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite gradient norm", s.position.step + 1))
    lr = s.scheduler.get_last_lr()[0]
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - t0
    # Sum over processes so the logged numbers describe the global batch, not rank 0's share.
    names = sorted(sums)
    totals = acc.reduce(torch.tensor([loss_sum, weight, real_tokens, padded_tokens, *(sums[k] for k in names)],
                                     dtype=torch.float64, device=acc.device), reduction="sum").tolist()
    return {"loss": totals[0] / totals[1], "grad_norm": float(grad_norm), "lr": lr, "tokens": totals[2],
            "pad_fraction": 1 - totals[2] / max(1.0, totals[3]), "tokens_per_s": totals[2] / max(elapsed, 1e-9),
            **{k: v / totals[1] for k, v in zip(names, totals[4:], strict=True)}}


def _end_of_epoch(r: OfflineRun, s: OfflineState) -> None:
    """Evaluate at every epoch boundary (the over-fitting diagnostics compare epochs), unless the periodic
    evaluation or the final one already runs at this step."""
    step, every = s.position.step, r.cfg.train.eval_every
    if r.cfg.train.eval_each_epoch and step < s.total and not (every and step % every == 0):
        _evaluate(r, s, float(s.position.epoch))


def _evaluate(r: OfflineRun, s: OfflineState, epoch: float) -> dict:
    """Evaluate every held-out split ("eval", maybe "train_eval"), then the sampling evaluation; returns the
    held-out metrics."""
    results, model, step = {}, s.model, s.position.step
    model.eval()
    with evaluation_notice(r, s):
        for split, loader in s.eval_loaders.items():
            results[split] = r.algorithm.evaluate(model, loader, r.accelerator)
            if r.accelerator.is_main_process:
                r.log.log(step, split, results[split], epoch=epoch)
        if r.sample_eval is not None and r.accelerator.is_main_process:
            with torch.random.fork_rng():  # sampling must not change the training run's random stream
                r.log.log(step, "eval_samples", r.sample_eval(r.accelerator.unwrap_model(model)), epoch=epoch)
    model.train()
    return results.get("eval", {})


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
