"""Acceptance checks of issue 3 on the real default model: the proxy reward model and the pairs preset."""

from __future__ import annotations

import json

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUIET = ["logging.progress=false", "logging.report_to=[]"]


def test_rm_preset_agrees_with_gold_and_scores_pairs(tmp_path):
    rm = tmp_path / "rm"
    run_cli("train", "rm", "-c", "rm/reviews-tiny", *QUIET, f"run_dir={rm}", timeout=1200)
    evals = [json.loads(x) for x in (rm / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in evals if r["split"] == "eval"][-1]
    assert final["accuracy"] >= 0.85, final  # held-out agreement with the gold (judge) labels
    pairs = tmp_path / "pairs"
    run_cli("pairs", "-c", "pairs/reviews-tiny", *QUIET, "pairs.max_prompts=32", f"reward.scorer=reward_model:{rm}",
            f"run_dir={pairs}", timeout=1200)
    report = json.loads((pairs / "pairs_report.json").read_text())
    assert report["splits"]["train"]["pairs"] > 0 and report["scorer"] == f"reward_model:{rm}"
