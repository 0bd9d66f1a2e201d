"""The door of every verb: the built-ins a config names are ensured once, then the method's runner runs.

`run_method` is how the CLI's `train` and `pairs` commands, each sweep job and each quickstart stage start a run:
the registry (`alignlab.methods`) gives the runner, `pipelines/builtins.py` builds any `builtin:NAME` model or
dataset the config names, and from then on every loader only loads.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.config import Config
from alignlab.methods import METHODS
from alignlab.pipelines.builtins import ensure_builtins


def run_method(name: str, cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    """Run the registered method `name` on `cfg` (a fresh run, or `resume` an interrupted one)."""
    ensure_builtins(cfg)
    return METHODS[name].run_function()(cfg, command=command, resume=resume)
