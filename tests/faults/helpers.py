"""Shared pieces of the fault-injection tests: a run of the micro model, its rewind, its comparison."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAST

QUIET_SETTINGS = ["model.device=cpu", "logging.progress=false", "logging.report_to=[]"]
SFT = [*FAST, "train.max_steps=16", "train.keep_checkpoints=10"]
VOLATILE = {"time", "tokens_per_s", "peak_rss_bytes", "samples_per_s"}


def events(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [{k: v for k, v in r.items() if k not in VOLATILE and not k.startswith("time_")} for r in rows]


def weights(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "final").glob("*.safetensors"))}


def rewind(run_dir: Path, to_step: int) -> None:
    """Make the run look as if it was killed just after checkpoint `to_step`."""
    for ckpt in (run_dir / "checkpoints").iterdir():
        if int(ckpt.name.split("-")[1]) > to_step:
            shutil.rmtree(ckpt)
    shutil.rmtree(run_dir / "final", ignore_errors=True)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps(manifest | {"status": "running"}))


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


PATCHED = """
import os, signal, sys
import importlib
module, cls, method, when = {target!r}
owner = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
original = getattr(owner, method)
calls = {{"n": 0}}
def patched(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] == when:
        {action}
    return original(*args, **kwargs)
setattr(owner, method, patched)
from alignlab.cli.main import main
sys.argv = ["alignlab"] + sys.argv[1:]
main()
"""


def run_patched(tmp_path: Path, target: tuple, action: str, *args: str, timeout: int = 300
                ) -> subprocess.CompletedProcess:
    """`alignlab ARGS` with `action` (Python source) run at the `when`-th call of `module.cls.method`:
    `target` = (module, class name or "", method name, when)."""
    import os

    script = tmp_path / f"patched-{abs(hash((target, action)))}.py"
    script.write_text(PATCHED.format(target=target, action=action))
    env = os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def one_line_error(proc: subprocess.CompletedProcess) -> bool:
    """The failure was reported in a line, not a traceback."""
    return "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
