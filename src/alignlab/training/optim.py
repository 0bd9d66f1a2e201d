"""Optimizers and learning-rate schedules, chosen by name through dicts."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR

from alignlab.config.common import OptimizerConfig, SchedulerConfig

# State buffers each optimizer keeps per parameter: the memory invariant of the run's memory report.
STATE_BUFFERS = {"adamw": 2, "adam": 2, "sgd": 0, "sgd_momentum": 1, "sgd_nesterov": 1}

OPTIMIZERS = {
    "adamw": lambda p, c: torch.optim.AdamW(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay),
    "adam": lambda p, c: torch.optim.Adam(p, lr=c.lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay),
    "sgd": lambda p, c: torch.optim.SGD(p, lr=c.lr, weight_decay=c.weight_decay),
    "sgd_momentum": lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
    "sgd_nesterov": lambda p, c: torch.optim.SGD(p, lr=c.lr, momentum=c.momentum, nesterov=True,
                                                 weight_decay=c.weight_decay),
}


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: biases and norm weights (1-D tensors) are not decayed."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


FUSED = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
"""Optimizers with a fused one-kernel step in PyTorch (CPU and CUDA): the same update, fewer passes over memory."""


def build_optimizer(model: torch.nn.Module, cfg: OptimizerConfig, fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer `cfg.name` over decayed / not decayed parameter groups; `fused` (model.fused_kernels) asks
    for PyTorch's fused step where it exists for these parameters, else the default implementation."""
    groups = param_groups(model, cfg.weight_decay)
    if fused and cfg.name in FUSED:
        try:
            return FUSED[cfg.name](groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                   fused=True)
        except (RuntimeError, ValueError):
            pass  # parameters on a device or of a dtype the fused kernel does not take: the default step
    if cfg.name in OPTIMIZERS:
        return OPTIMIZERS[cfg.name](groups, cfg)
    # Any other torch.optim class by name, with its own defaults beyond lr and weight decay.
    return getattr(torch.optim, cfg.name)(groups, lr=cfg.lr)


def _warmup_then(decay, step: int, warmup: int, total: int, floor: float) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * decay(progress)


SCHEDULES = {
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)),
    "linear": lambda p: 1.0 - p,
    "constant": lambda p: 1.0,
}


def build_scheduler(optimizer, cfg: SchedulerConfig, total_steps: int) -> LambdaLR:
    warmup = max(cfg.warmup_steps, int(cfg.warmup_ratio * total_steps))
    fn = partial(_warmup_then, SCHEDULES[cfg.name], warmup=warmup, total=total_steps, floor=cfg.min_lr_ratio)
    return LambdaLR(optimizer, fn)


def apply_optimizer_settings(optimizer: torch.optim.Optimizer, scheduler: LambdaLR, cfg: OptimizerConfig) -> None:
    """After a resume loaded the optimizer and schedule state: make the configured peak lr, betas, eps, momentum and
    weight decay the ones in force (the loaded state carries the values the checkpoint was written with; they
    differ only when a resume accepted a config change)."""
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
        if base != cfg.lr:
            ratio = group["lr"] / base if base else 1.0
            group["initial_lr"], group["lr"] = cfg.lr, cfg.lr * ratio
        for key, value in (("betas", tuple(cfg.betas)), ("eps", cfg.eps), ("momentum", cfg.momentum)):
            if cfg.name in OPTIMIZERS and key in group and (key != "momentum" or group[key]):  # others: own defaults
                group[key] = value
        if group.get("weight_decay"):
            group["weight_decay"] = cfg.weight_decay
    scheduler.base_lrs = [cfg.lr for _ in optimizer.param_groups]
