"""SIGINT / SIGTERM: finish the current step, write a checkpoint, then exit; divergence checks shared by both loops."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import torch

from alignlab.training.checkpoint import checkpoint_problems, list_checkpoints


class GracefulStop:
    """Context manager that records a stop request instead of dying mid-step.

    A second Ctrl-C while a stop is pending aborts at once (KeyboardInterrupt).
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise StoppedAtOnce
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a notebook worker): keep default behaviour
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class StoppedAtOnce(KeyboardInterrupt):
    """A second Ctrl-C while a stop was pending: the step in progress is abandoned (the last checkpoint stays)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loops (setup, the final save): unwinds like a Ctrl-C, so staging folders are
    removed and the manifest says `interrupted`."""


def stop_on_sigterm() -> None:
    """Make SIGTERM raise `Terminated` in this process (the loops' `GracefulStop` takes over while they run)."""
    def handle(signum, frame):
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread
        pass


class Interrupted(Exception):
    """Raised after the checkpoint is written; carries the conventional exit code (128 + signal)."""

    def __init__(self, signum: int | None, checkpoint: str):
        signum = signum or signal.SIGTERM  # this rank got no signal itself: another rank did
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint written to {checkpoint}")


class TrainingDiverged(Exception):
    """A non-finite loss or gradient; the message names the step and the last good checkpoint."""


def finite_everywhere(loss: torch.Tensor, acc) -> bool:
    """Every rank must agree, or the ranks that carry on would wait forever for the one that stopped."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if acc.num_processes > 1:
        finite = acc.reduce(finite, reduction="sum") / acc.num_processes
    return bool(finite.item() == 1.0)


@contextmanager
def sampling_diverges(checkpoints, step: int):
    """Sampling from a policy whose logits overflowed fails inside torch ("probability tensor contains inf, nan or
    element < 0"): report it as the divergence it is, naming the step and the last good checkpoint."""
    try:
        yield
    except RuntimeError as exc:
        if "probability tensor" not in str(exc):
            raise
        raise TrainingDiverged(diverged_message(checkpoints, "non-finite sampling probabilities (the policy's "
                                                "logits overflowed)", step)) from None


def weights_finite(model: torch.nn.Module, acc) -> bool:
    """Every trained weight is finite on every rank: an update with a finite gradient can still overflow them (a
    huge learning rate), and the next rollout would then fail inside sampling instead of naming the step."""
    trained = [p.detach() for p in model.parameters() if p.requires_grad]
    ok = torch.stack([p.isfinite().all() for p in trained]).all() if trained else torch.tensor(True)
    return finite_everywhere(torch.where(ok, 0.0, float("nan")).to(acc.device), acc)


def stop_requested(stop: GracefulStop, acc) -> bool:
    """A signal may reach only some ranks; all must stop at the same step or the next collective hangs."""
    if acc.num_processes == 1:
        return stop.requested
    flag = torch.tensor([float(stop.requested)], device=acc.device)
    return bool(acc.reduce(flag, reduction="sum").item() > 0)


def diverged_message(checkpoints, what: str, step: int) -> str:
    """`what` happened at `step`; names the last good checkpoint under `checkpoints`."""
    good = next((c for c in reversed(list_checkpoints(checkpoints)) if not checkpoint_problems(c)), None)
    kept = f"last good checkpoint kept: {good}" if good else "no checkpoint had been written yet"
    return f"{what} at step {step}; training stopped ({kept})"
