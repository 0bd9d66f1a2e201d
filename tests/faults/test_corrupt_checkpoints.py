"""A damaged checkpoint is never trusted: a resume names it and falls back to the checkpoint before, which gives the
same final weights as an uninterrupted run; with none left intact it stops in one line. A damaged final model is
reported by eval and report; a torn metrics line is repaired."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.faults.helpers import SFT, copy_run, events, one_line_error, rewind, weights


@pytest.fixture(scope="module")
def full_run(alignlab_home, tmp_path_factory):
    """An uninterrupted SFT run with checkpoints at steps 4, 8, 12, 16."""
    path = tmp_path_factory.mktemp("full") / "run"
    run_cli("train", "sft", *SFT, f"run_dir={path}")
    return path


def _flip(path, offset_from_end: int = 20) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_state(field: str, value):
    def edit(path):
        state = json.loads(path.read_text())
        path.write_text(json.dumps(state | {field: value}))
    return edit


CORRUPTIONS = {
    "weights bit flip": ("model.safetensors", _flip),
    "optimizer garbage": ("optimizer.pt", lambda p: p.write_bytes(p.read_bytes()[:1000] + b"\x00" * 4096)),
    "optimizer empty": ("optimizer.pt", lambda p: p.write_bytes(b"")),
    "scheduler truncated": ("scheduler.pt", lambda p: p.write_bytes(p.read_bytes()[:10])),
    "state step 999": ("state.json", _edit_state("step", 999)),
    "state position -5": ("state.json", _edit_state("batch_in_epoch", -5)),
    "rng state missing": ("rng-0.safetensors", lambda p: p.unlink()),
    "checksums garbage": ("checksums.json", lambda p: p.write_text("{not json")),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_damaged_newest_checkpoint_falls_back_and_matches(full_run, tmp_path, name):
    run = copy_run(full_run, tmp_path / "run")
    rewind(run, 12)
    file, corrupt = CORRUPTIONS[name]
    corrupt(run / "checkpoints" / "step-12" / file)
    out = run_cli("train", "sft", "--resume", str(run)).stderr
    assert "checkpoint step-12 is damaged" in out and "resuming from step-8" in out
    assert weights(run) == weights(full_run)
    assert events(run) == events(full_run)


def test_every_checkpoint_damaged_stops_in_one_line(full_run, tmp_path):
    run = copy_run(full_run, tmp_path / "run")
    rewind(run, 8)
    for step in (4, 8):
        _flip(run / "checkpoints" / f"step-{step}" / "model.safetensors")
    proc = run_cli("train", "sft", "--resume", str(run), check=False)
    assert proc.returncode == 2 and one_line_error(proc)
    assert "no intact checkpoint" in proc.stderr and "step-8" in proc.stderr and "step-4" in proc.stderr


def test_unverified_checkpoint_that_will_not_load_is_one_line(full_run, tmp_path):
    """A checkpoint from before checksums existed (no checksums.json) with a broken optimizer file."""
    run = copy_run(full_run, tmp_path / "run")
    rewind(run, 4)
    (run / "checkpoints" / "step-4" / "checksums.json").unlink()
    (run / "checkpoints" / "step-4" / "optimizer.pt").write_bytes(b"")
    proc = run_cli("train", "sft", "--resume", str(run), check=False)
    assert proc.returncode == 2 and one_line_error(proc)
    assert "step-4 cannot be loaded" in proc.stderr


def test_config_edited_between_checkpoint_and_resume_is_refused_or_recorded(full_run, tmp_path):
    run = copy_run(full_run, tmp_path / "run")
    rewind(run, 8)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.0005", "lr: 0.002"))
    proc = run_cli("train", "sft", "--resume", str(run), check=False)
    assert proc.returncode == 2 and one_line_error(proc)
    assert "optimizer.lr 0.0005 → 0.002" in proc.stderr and "--accept-config-change" in proc.stderr
    run_cli("train", "sft", "--resume", str(run), "--accept-config-change")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["accepted_config_changes"][0]["changes"]["optimizer.lr"] == {"was": 0.0005, "now": 0.002}
    lrs = {r["step"]: r["lr"] for r in events(run) if r["split"] == "train"}
    full = {r["step"]: r["lr"] for r in events(full_run) if r["split"] == "train"}
    assert lrs[8] == full[8] and lrs[10] == pytest.approx(4 * full[10], rel=1e-3)  # the new lr is in force


def test_torn_metrics_line_is_repaired_on_resume(full_run, tmp_path):
    run = copy_run(full_run, tmp_path / "run")
    rewind(run, 8)
    metrics = run / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes() + b'{"step": 9, "split": "tra')
    run_cli("report", str(run), "-o", str(tmp_path / "report"))  # the report reads around it
    run_cli("train", "sft", "--resume", str(run))
    assert events(run) == events(full_run)


def test_damaged_final_model_is_reported_by_eval_and_report(full_run, tmp_path):
    run = copy_run(full_run, tmp_path / "run")
    _flip(run / "final" / "model.safetensors")
    (run / "diagnostics.json").write_text("{torn")
    report = run_cli("report", str(run), "-o", str(tmp_path / "report"))
    said = " ".join((report.stdout + report.stderr).split())  # rich may wrap a long line
    assert "final is not what the run wrote" in said and "model.safetensors" in said
    assert "diagnostics.json is unreadable" in said
    ev = run_cli("eval", str(run), "eval.prompts=4", "eval.k=1", "eval.gold=null")
    assert "final is not what the run wrote" in " ".join((ev.stdout + ev.stderr).split())
