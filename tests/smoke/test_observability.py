"""What a user sees of a run that is not on a terminal (a batch job, CI): plain progress lines, the run's log.txt,
the end-of-run summary and the memory record (issue 21: a real model's start took minutes with nothing in a log)."""

from __future__ import annotations

import json

from tests.conftest import FAST, run_cli
from tests.smoke.test_cli_online import ONLINE_FAST


def test_offline_run_prints_plain_progress_and_a_summary_into_its_log(alignlab_home, tmp_path):
    run = tmp_path / "sft"
    proc = run_cli("train", "sft", *FAST, "logging.progress=true", "train.max_steps=6", f"run_dir={run}",
                   env={"ALIGNLAB_PROGRESS_SECONDS": "0"})
    assert "\x1b[" not in proc.stderr  # no terminal: no bar drawing
    assert "evaluating the starting point before step 1" in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("sft · ")]
    assert [ln.split(": ")[1].split(" ")[0] for ln in lines[-6:]] == [f"{i}/6" for i in range(1, 7)]
    assert "eta" in lines[-1] and "loss=" in lines[-1]
    log = (run / "log.txt").read_text()
    assert "6/6 (100%)" in log and "summary: 6 steps in" in log and "run directory" in log
    summary = json.loads((run / "manifest.json").read_text())["summary"]
    assert summary["steps"] == 6 and summary["tokens"] > 0 and summary["tokens_per_s"] > 0
    assert 0 < summary["eval_s"] < summary["runtime_s"] and 0 < summary["eval_share"] < 1
    assert summary["peak_rss_bytes"] > 50 * 2**20
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    memory = next(r for r in rows if r["split"] == "memory")
    assert memory["peak_rss_bytes"] > 50 * 2**20


def test_online_run_summary_counts_sampled_tokens(alignlab_home, tmp_path):
    run = tmp_path / "rloo"
    run_cli("train", "rloo", *ONLINE_FAST, f"run_dir={run}")
    summary = json.loads((run / "manifest.json").read_text())["summary"]
    assert summary["steps"] == 2 and summary["tokens"] > 0
    assert "summary: 2 steps" in (run / "log.txt").read_text()
