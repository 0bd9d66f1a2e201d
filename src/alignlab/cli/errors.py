"""Map the lab's exceptions to one readable line and a conventional exit code (no traceback)."""

from __future__ import annotations

import errno
import functools
import signal
import sys

from alignlab.config.errors import ConfigError
from alignlab.data.sources import DataError
from alignlab.runs.atomic import DiskFull, FolderBusy
from alignlab.runs.progress import console
from alignlab.training.signals import (
    Interrupted,
    StoppedAtOnce,
    Terminated,
    TrainingDiverged,
    stop_on_sigterm,
)

USAGE_ERRORS = (ConfigError, DataError, FileNotFoundError, FolderBusy)


WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
"""An OSError with one of these is the output's fault (full, read-only, not ours): one line, exit 2."""


def friendly_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        stop_on_sigterm()
        try:
            return fn(*args, **kwargs)
        except USAGE_ERRORS as exc:
            _die(f"error: {exc}", 2)
        except DiskFull as exc:
            _die(f"error: {exc.strerror}", 2)
        except TrainingDiverged as exc:
            _die(f"training diverged: {exc}", 1)
        except Interrupted as exc:
            _die(str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            how = "a second Ctrl-C" if isinstance(exc, StoppedAtOnce) else signal.Signals(signum).name
            _die(f"stopped by {how} at once: anything half-written was removed and the run folder (if one was "
                 "made) keeps its last checkpoint; continue with --resume RUN_DIR", 128 + signum)
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            what = "no space left on device" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
            _die(f"error: {what}: {exc.filename or 'the output folder'}", 2)
    return wrapper


def _die(message: str, code: int):
    console.print(message, style="bold red", highlight=False, soft_wrap=True)
    sys.exit(code)
