"""Memory report: trainable parameters and optimizer-state bytes measured from `optimizer.state`."""

from __future__ import annotations

import resource
import sys

import torch


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far (CPU RAM), in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of per-parameter state buffers (moments, momentum), measured after at least one step.

    Scalar bookkeeping such as Adam's `step` counter is not a buffer and is not counted.
    """
    total = 0
    for param, state in optimizer.state.items():
        for value in state.values():
            if torch.is_tensor(value) and value.numel() == param.numel() and value.ndim > 0:
                total += value.numel() * value.element_size()
    return total


def memory_report(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Trainable parameters and their bytes as the optimizer holds them (the policy plus, for PPO, the critic:
    the invariant state bytes = trainable × bytes per parameter × state buffers is about what the optimizer
    steps), the optimizer-state bytes, and `model_trainable_params` for the model alone when that differs."""
    def count(params) -> tuple[int, int]:
        seen, n, nbytes = set(), 0, 0
        for p in params:
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
                nbytes += p.numel() * p.element_size()
        return n, nbytes

    trainable, trainable_bytes = count(p for g in optimizer.param_groups for p in g["params"])
    model_trainable, _ = count(model.parameters())
    state = optimizer_state_bytes(optimizer)
    report = {"trainable_params": trainable, "trainable_param_bytes": trainable_bytes,
              "gradient_bytes": trainable_bytes, "optimizer_state_bytes": state,
              "optimizer_state_buffers": round(state / trainable_bytes, 3) if trainable_bytes else 0}
    if model_trainable != trainable:
        report["model_trainable_params"] = model_trainable
    report["peak_rss_bytes"] = peak_rss_bytes()
    if torch.cuda.is_available():
        report["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated()
    return report
