"""What both training loops share: the schedule of logging, evaluation and checkpoints after a step, the end of a
run, and writing a checkpoint.

Each loop keeps its state in one object (`offline.OfflineState`, `online.OnlineState`) that has the fields of
`LoopStateLike`; the functions here read only those, so the offline and the online loop save, schedule and
finish the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
from accelerate import Accelerator

from alignlab.config import Config
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.rundir import RunDir
from alignlab.training import checkpoint as ckpt
from alignlab.training.memory import memory_report


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
    ckpt.save_checkpoint(folder, s.model, s.optimizer, s.scheduler, s.position, r.accelerator, extras=s.extras)
    if r.accelerator.is_main_process:
        ckpt.prune_checkpoints(r.run.checkpoints, r.cfg.train.keep_checkpoints)
        r.run.record_wall_time(last_checkpoint=folder.name)
    return folder


def after_step(r: LoopRunLike, s: LoopStateLike, evaluate: Callable[[], object], **fields) -> None:
    """After a step: the memory report once, the train metrics every `train.log_every`, an evaluation every
    `train.eval_every` and a checkpoint every `train.save_every` (`fields`, e.g. the epoch, go into log rows)."""
    cfg, acc, step = r.cfg.train, r.accelerator, s.position.step
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
    return final_eval
