"""SIGINT / SIGTERM: finish the current optimizer step, write a checkpoint, then exit."""

from __future__ import annotations

import signal


class GracefulStop:
    """Context manager that records a stop request instead of dying mid-step.

    A second Ctrl-C while a stop is pending aborts at once (KeyboardInterrupt).
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
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


class Interrupted(Exception):
    """Raised after the checkpoint is written; carries the conventional exit code (128 + signal)."""

    def __init__(self, signum: int | None, checkpoint: str):
        signum = signum or signal.SIGTERM  # this rank got no signal itself: another rank did
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; checkpoint written to {checkpoint}")


class TrainingDiverged(Exception):
    """A non-finite loss or gradient; the message names the step and the last good checkpoint."""
