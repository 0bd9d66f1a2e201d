"""Map the lab's exceptions to one readable line and a conventional exit code (no traceback)."""

from __future__ import annotations

import functools
import sys

from alignlab.config.errors import ConfigError
from alignlab.data.sources import DataError
from alignlab.runs.atomic import FolderBusy
from alignlab.runs.progress import console
from alignlab.training.signals import Interrupted, TrainingDiverged

USAGE_ERRORS = (ConfigError, DataError, FileNotFoundError, FolderBusy)


def friendly_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USAGE_ERRORS as exc:
            _die(f"error: {exc}", 2)
        except TrainingDiverged as exc:
            _die(f"training diverged: {exc}", 1)
        except Interrupted as exc:
            _die(str(exc), exc.exit_code)
    return wrapper


def _die(message: str, code: int):
    console.print(message, style="bold red", highlight=False, soft_wrap=True)
    sys.exit(code)
