"""Resume equals an uninterrupted run; signals checkpoint; non-finite losses stop with the step named."""

from __future__ import annotations

import json
import shutil
import signal
import sys

from tests.conftest import FAST, run_cli

SETTINGS = [*FAST, "train.max_steps=16", "train.keep_checkpoints=10", "model.name_or_path=builtin:reviews-micro"]
VOLATILE = {"time", "tokens_per_s", "peak_rss_bytes"}


def _events(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def _rewind(run_dir, to_step: int) -> None:
    """Make the run look as if it crashed just after checkpoint `to_step` (later files are lost)."""
    for ckpt in (run_dir / "checkpoints").iterdir():
        if int(ckpt.name.split("-")[1]) > to_step:
            shutil.rmtree(ckpt)
    shutil.rmtree(run_dir / "final")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (run_dir / "manifest.json").write_text(json.dumps(manifest | {"status": "running"}))


def test_resume_equals_uninterrupted(alignlab_home, tmp_path):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    run_cli("train", "sft", *SETTINGS, f"run_dir={full}")
    run_cli("train", "sft", *SETTINGS, f"run_dir={crashed}")
    _rewind(crashed, 8)
    run_cli("train", "sft", "--resume", str(crashed))
    assert _events(crashed) == _events(full)
    assert (crashed / "final" / "model.safetensors").read_bytes() == (full / "final" / "model.safetensors").read_bytes()
    assert "resumed" in json.loads((crashed / "manifest.json").read_text())


def test_resume_may_extend_the_run_and_change_its_evaluation(alignlab_home, tmp_path):
    run = tmp_path / "run"
    run_cli("train", "sft", *SETTINGS, f"run_dir={run}")
    _rewind(run, 8)
    run_cli("train", "sft", "--resume", str(run), "train.max_steps=20", "train.eval_every=5")
    assert max(r["step"] for r in _events(run) if r["split"] == "train") == 20
    # every 5 steps from the resume on (and at the end of epoch 1, step 12: 96 examples in batches of 8)
    assert [r["step"] for r in _events(run) if r["split"] == "eval" and r["step"] > 8] == [10, 12, 15, 20]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["resume_overrides"] == ["train.max_steps=20", "train.eval_every=5"]
    assert "max_steps: 20" in (run / "config.yaml").read_text()
    _rewind(run, 16)
    bad = run_cli("train", "sft", "--resume", str(run), "optimizer.lr=1", check=False)
    assert bad.returncode == 2 and "optimizer.lr cannot change in a resumed run" in bad.stderr


def test_bare_resume_picks_newest_run_of_the_config(alignlab_home, tmp_path):
    run_cli("train", "sft", *SETTINGS, "name=bare", cwd=tmp_path)
    run_dir = next((tmp_path / "runs").glob("bare-*"))
    _rewind(run_dir, 8)
    proc = run_cli("train", "sft", "--resume", *SETTINGS, "name=bare", check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "cannot change in a resumed run" in proc.stderr
    cfg = tmp_path / "bare.yaml"
    cfg.write_text("name: bare\n")
    run_cli("train", "sft", "-c", str(cfg), "--resume", cwd=tmp_path)
    assert (run_dir / "final").is_dir()


PATCHED = """
import os, signal, sys
from alignlab.algorithms.sft import SFT
calls = {"n": 0}
original = SFT.loss
def loss(self, model, batch):
    calls["n"] += 1
    out, m = original(self, model, batch)
    if calls["n"] == 5:
        %s
    return out, m
SFT.loss = loss
from alignlab.cli.main import main
sys.argv = ["alignlab"] + sys.argv[1:]
main()
"""


def _run_patched(tmp_path, action: str, *args):
    import subprocess

    script = tmp_path / "patched.py"
    script.write_text(PATCHED % action)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)


def test_sigterm_writes_checkpoint_then_resume_completes(alignlab_home, tmp_path):
    run_dir = tmp_path / "sig"
    proc = _run_patched(tmp_path, "os.kill(os.getpid(), signal.SIGTERM)", "train", "sft", *SETTINGS,
                        "train.save_every=100", f"run_dir={run_dir}")
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "checkpoint written" in proc.stderr
    assert (run_dir / "checkpoints" / "step-5" / "state.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    run_cli("train", "sft", "--resume", str(run_dir))
    assert (run_dir / "final").is_dir()


def test_non_finite_loss_stops_and_names_the_step(alignlab_home, tmp_path):
    run_dir = tmp_path / "nan"
    proc = _run_patched(tmp_path, "out = out * float('nan')", "train", "sft", *SETTINGS, f"run_dir={run_dir}")
    assert proc.returncode == 1
    assert "non-finite loss" in proc.stderr and "at step 5" in proc.stderr and "step-4" in proc.stderr
    assert (run_dir / "checkpoints" / "step-4").is_dir() and not (run_dir / "final").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "failed"


def test_resume_before_first_checkpoint_starts_over_cleanly(alignlab_home, tmp_path):
    full, early = tmp_path / "full", tmp_path / "early"
    run_cli("train", "sft", *SETTINGS, f"run_dir={full}")
    run_cli("train", "sft", *SETTINGS, f"run_dir={early}")
    _rewind(early, 0)  # no checkpoint survives
    run_cli("train", "sft", "--resume", str(early))
    assert _events(early) == _events(full)
