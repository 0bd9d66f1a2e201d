"""The door of every verb: the built-ins a config names are ensured once, then the method's runner runs.

`run_method` is how the CLI's `train` and `pairs` commands, each sweep job and each quickstart stage start a run:
the registry (`alignlab.methods`) gives the method's check and runner, `pipelines/builtins.py` builds any `builtin:NAME` model or
dataset the config names, and from then on every loader only loads.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.config import Config
from alignlab.methods import METHODS
from alignlab.pipelines.builtins import ensure_builtins
from alignlab.pipelines.common import check_environment, resolve_chat


def run_method(name: str, cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    """Run the registered method `name` on `cfg` (a fresh run, or `resume` an interrupted one). Bad input fails
    first, in one line: the method's own check and the hardware check run before any built-in is built."""
    method = METHODS[name]
    method.check_function()(cfg)
    check_environment(cfg)
    ensure_builtins(cfg)
    cfg = resolve_chat(cfg)  # the one chat setting of the run, recorded in its config.yaml
    return method.run_function()(cfg, command=command, resume=resume)
