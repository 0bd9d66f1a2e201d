"""The acceptance checks on the real default model (builtin:reviews-tiny): minutes, so marked slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUIET = ["logging.progress=false", "logging.report_to=[]"]


def _evals(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["split"] == "eval"]


def test_sft_preset_lowers_heldout_loss(tmp_path):
    run_dir = tmp_path / "sft"
    run_cli("train", "sft", "-c", "sft/reviews-tiny", *QUIET, f"run_dir={run_dir}", timeout=900)
    losses = _evals(run_dir)
    assert losses[-1] < losses[0]
    assert (run_dir / "final" / "model.safetensors").exists()


def test_kill_9_then_resume_matches_uninterrupted(tmp_path):
    settings = ["-c", "sft/reviews-tiny", *QUIET, "train.max_steps=120", "train.save_every=20",
                "train.keep_checkpoints=10", "data.max_eval_samples=32"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli("train", "sft", *settings, f"run_dir={full}", timeout=900)
    proc = subprocess.Popen([sys.executable, "-m", "alignlab", "train", "sft", *settings, f"run_dir={killed}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "checkpoints" / "step-40" / "state.json").exists():
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "final").exists(), "the run finished before it could be killed"
    run_cli("train", "sft", "--resume", str(killed), timeout=900)

    def events(d):
        rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("time", "tokens_per_s")} for r in rows]

    assert events(killed) == events(full)
