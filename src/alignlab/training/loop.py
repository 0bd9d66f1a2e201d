"""What both training loops share: the schedule of logging, evaluation and checkpoints after a step, the end of a
run, and writing a checkpoint.

Each loop keeps its state in one object (`offline.OfflineState`, `online.OnlineState`) that has the fields of
`LoopStateLike`; the functions here read only those, so the offline and the online loop save, schedule and
finish the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from accelerate import Accelerator

from alignlab.config import Config
from alignlab.config.loader import flat_config
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import console
from alignlab.runs.rundir import RunDir
from alignlab.training import checkpoint as ckpt
from alignlab.training.memory import memory_report, peak_rss_bytes


@dataclass
class Pace:
    """This segment of a run (a fresh start or one resume): when it started, its first step and the tokens its
    steps processed (the `tokens` metric of each step), for the end-of-run summary."""

    started: float = field(default_factory=time.perf_counter)
    first_step: int | None = None
    tokens: float = 0.0
    eval_seconds: float = 0.0
    """Time spent in in-training evaluations (held-out losses and sampled replies)."""


EVAL_SHARE_WARNING = 0.10
"""An end-of-run summary warns when in-training evaluation took more than this share of the run."""


class LoopRunLike(Protocol):
    """The parts of a loop's inputs (`OfflineRun`, `OnlineRun`) these functions use."""

    cfg: Config
    run: RunDir
    accelerator: Accelerator
    log: MetricsLog


class LoopStateLike(Protocol):
    """A loop's state: the prepared model and its optimizer and schedule, the other modules a checkpoint holds,
    the position in training and the last step's metrics."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    position: ckpt.LoopState
    total: int
    """Steps (offline: optimizer steps; online: iterations) of the whole run."""
    last: dict
    pace: Pace

    @property
    def model(self) -> torch.nn.Module: ...

    @property
    def extras(self) -> dict[str, object]: ...


def due(step: int, every: int | None, total: int) -> bool:
    """A periodic event at `step`: every `every` steps, except the last step (the end of the run does its own)."""
    return bool(every) and step % every == 0 and step < total


def save(r: LoopRunLike, s: LoopStateLike) -> Path:
    """Write checkpoints/step-N (weights, optimizer, schedule, RNG, position, extras); keep the newest few."""
    folder = r.run.checkpoints / f"step-{s.position.step}"
    if r.accelerator.is_main_process:
        r.log.sync()  # the records up to this checkpoint are durable before it exists
    ckpt.save_checkpoint(folder, s.model, s.optimizer, s.scheduler, s.position, r.accelerator, extras=s.extras,
                         config=flat_config(r.cfg))
    if r.accelerator.is_main_process:
        ckpt.prune_checkpoints(r.run.checkpoints, r.cfg.train.keep_checkpoints)
        r.run.record_wall_time(last_checkpoint=folder.name)
    return folder


def after_step(r: LoopRunLike, s: LoopStateLike, evaluate: Callable[[], object], **fields) -> None:
    """After a step: the memory report once, the train metrics every `train.log_every`, an evaluation every
    `train.eval_every` and a checkpoint every `train.save_every` (`fields`, e.g. the epoch, go into log rows)."""
    cfg, acc, step = r.cfg.train, r.accelerator, s.position.step
    if s.pace.first_step is None:
        s.pace.first_step = step - 1
    s.pace.tokens += float(s.last.get("tokens", 0.0))
    if step == 1 and acc.is_main_process:
        r.log.log(step, "memory", memory_report(acc.unwrap_model(s.model), s.optimizer))
    if step % cfg.log_every == 0 and acc.is_main_process:
        r.log.log(step, "train", s.last, **fields)
    if due(step, cfg.eval_every, s.total):
        evaluate()
    if due(step, cfg.save_every, s.total):
        save(r, s)


def finish(r: LoopRunLike, s: LoopStateLike, evaluate: Callable[[], dict], **fields) -> dict:
    """The end of a run: the last train metrics (unless just logged), the final evaluation and a checkpoint of
    the last step (unless one exists); returns the final evaluation's metrics."""
    step = s.position.step
    if s.last and step % r.cfg.train.log_every and r.accelerator.is_main_process:
        r.log.log(step, "train", s.last, **fields)
    final_eval = evaluate()
    latest = ckpt.latest_checkpoint(r.run.checkpoints)
    if latest is None or latest.name != f"step-{step}":
        save(r, s)
    summary = run_summary(s)
    if r.accelerator.is_main_process:
        r.log.sync()
        r.run.update_manifest(summary=summary)
        console.print(summary_line(summary))
    return final_eval


@contextmanager
def evaluation_notice(r: LoopRunLike, s: LoopStateLike):
    """Say that the starting evaluation runs (it can take minutes on a real model, before any step shows), and
    how long an evaluation took when it took a while; the time counts into the summary's evaluation share."""
    main, step = r.accelerator.is_main_process, s.position.step
    if main and step == 0:
        console.print("evaluating the starting point before step 1 (held-out split; sampled replies: "
                      "eval.in_training_prompts × eval.in_training_k) ...")
    t0 = time.perf_counter()
    yield
    took = time.perf_counter() - t0
    s.pace.eval_seconds += took
    if main and (step == 0 or took >= 10):
        console.print(f"evaluation at step {step} took {took:.1f} s")


def run_summary(s: LoopStateLike) -> dict:
    """Runtime, steps/s and tokens/s of this segment (evaluations and checkpoints included), and peak memory: the
    process's peak RSS, and the peak allocated on the GPU when there is one."""
    runtime = time.perf_counter() - s.pace.started
    steps = s.position.step - (s.pace.first_step if s.pace.first_step is not None else s.position.step)
    out = {"runtime_s": round(runtime, 2), "steps": steps, "steps_per_s": round(steps / max(runtime, 1e-9), 4),
           "tokens": int(s.pace.tokens), "tokens_per_s": round(s.pace.tokens / max(runtime, 1e-9), 1),
           "eval_s": round(s.pace.eval_seconds, 2), "eval_share": round(s.pace.eval_seconds / max(runtime, 1e-9), 4),
           "peak_rss_bytes": peak_rss_bytes()}
    if torch.cuda.is_available():
        out["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated()
    return out


def summary_line(summary: dict) -> str:
    gpu = summary.get("cuda_max_allocated_bytes")
    line = (f"summary: {summary['steps']} steps in {summary['runtime_s']:.1f} s ({summary['steps_per_s']:.3f} steps/s, "
            f"{summary['tokens_per_s']:,.0f} tokens/s), in-training evaluation {summary['eval_s']:.1f} s "
            f"({100 * summary['eval_share']:.0f}%), peak RSS {summary['peak_rss_bytes'] / 2**30:.2f} GiB"
            + (f", peak GPU allocated {gpu / 2**30:.2f} GiB" if gpu is not None else ""))
    if summary["eval_share"] > EVAL_SHARE_WARNING and summary["runtime_s"] >= 60:
        line += (f"\n[yellow]note:[/yellow] in-training evaluation took {100 * summary['eval_share']:.0f}% of the run "
                 f"(more than {100 * EVAL_SHARE_WARNING:.0f}%): fewer eval.in_training_prompts, data.max_eval_samples "
                 "or train.eval_train_samples, or a larger train.eval_every, make it cheaper")
    return line
