import json

import pytest

from alignlab.runs.atomic import append_line, atomic_dir, atomic_write_json, atomic_write_text
from alignlab.runs.metrics import MetricsLog, read_metrics


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "f.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [q.name for q in p.parent.iterdir()] == ["f.json"]  # no temp files left


def test_failed_write_keeps_old_content_and_no_temp(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")
    with pytest.raises(TypeError):
        atomic_write_json(p, {"bad": object()})
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_dir_is_all_or_nothing(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_dir(target) as d:
        (d / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as d:
        (d / "b").write_text("2")
        raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_metrics_log_truncate_after(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    for step in range(1, 6):
        log.log(step, "train", {"loss": 1.0 / step})
    append_line(tmp_path / "m.jsonl", json.dumps({"step": 7, "split": "eval", "loss": 0.1}))
    log.truncate_after(3)
    assert [r["step"] for r in read_metrics(tmp_path / "m.jsonl")] == [1, 2, 3]


def test_metrics_records_are_written_at_once_but_fsynced_only_on_sync(tmp_path, monkeypatch):
    """The hot path does one write per record and no fsync; `sync()` (checkpoints, the end) does the fsync."""
    import os

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    log = MetricsLog(tmp_path / "m.jsonl")
    for step in range(1, 11):
        log.log(step, "train", {"loss": 1.0})
    assert synced == []
    assert len(read_metrics(tmp_path / "m.jsonl")) == 10  # readable by another reader before any fsync
    log.sync()
    assert len(synced) == 1
