"""Shared fixtures. Smoke tests build the `builtin:reviews-micro` model once into a temporary ALIGNLAB_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MICRO = "builtin:reviews-micro"
# Small and fast settings for every smoke run of the SFT verb.
FAST = [f"model.name_or_path={MICRO}", "model.device=cpu", "data.max_train_samples=96", "data.max_eval_samples=16",
        "data.max_length=64", "train.batch_size=8", "train.log_every=2", "train.eval_every=4",
        "train.save_every=4", "logging.progress=false", "logging.report_to=[]"]


@pytest.fixture(scope="session")
def alignlab_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("alignlab_home")
    os.environ["ALIGNLAB_HOME"] = str(home)
    from alignlab.pipelines.builtins import ensure_builtin

    ensure_builtin(MICRO)
    return home


def run_cli(*args: str, cwd: Path | None = None, check: bool = True, env: dict | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m alignlab ARGS` in a subprocess, as a user would."""
    full_env = os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"} | (env or {})
    proc = subprocess.run([sys.executable, "-m", "alignlab", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"alignlab {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def invoke_cli(*args: str):
    """The CLI in-process (same entry point as the shell, without a Python start-up per run)."""
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def metric_rows(run_dir: Path, split: str) -> list[dict]:
    import json

    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]
