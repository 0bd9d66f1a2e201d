"""Acceptance checks on the real default model: the quickstart end to end (gold and proxy differ, SFT below the
trained methods with separated CIs, headroom under the judge's maximum), and the over-fitting flag of a 3-epoch
DPO run on a small pair set. Its time budget is measured by benchmarks/quickstart_time.py, not here."""

from __future__ import annotations

import json

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUIET = ["logging.progress=false", "logging.report_to=[]"]


def test_quickstart_end_to_end_separates_the_methods_under_the_gold_judge(tmp_path):
    proc = run_cli("quickstart", "logging.report_to=[]", cwd=tmp_path, timeout=900)
    root = next((tmp_path / "runs").glob("quickstart-*"))
    summary = json.loads((root / "quickstart.json").read_text())
    res = {name: r["metrics"] for name, r in summary["results"].items()}
    ci = {name: (m["gold_reward_mean"] - 1.96 * m["gold_reward_stderr"], m["gold_reward_mean"] + 1.96 * m["gold_reward_stderr"])
          for name, m in res.items()}
    for method in ("DPO", "RLOO"):
        assert ci[method][0] > ci["SFT"][1], ci  # SFT below the trained methods, the 95% CIs apart
        assert res[method]["gold_reward_mean"] < 1.0 - 0.05, res[method]  # headroom under the judge's maximum
        assert abs(res[method]["gold_reward_mean"] - res[method]["reward_mean"]) > 0.05  # proxy is not gold
        assert res[method]["kl_ci_low"] > 0, res[method]  # KL to SFT on its own samples, CI above 0
        assert summary["results"][method]["win_rate"]["win_rate"] > 0.5
    assert summary["results"]["DPO"]["pairs"]["pair_accuracy"] > 0.6
    assert "win rate" in proc.stderr and (root / "report" / "report.html").exists()


def test_three_epoch_dpo_on_few_pairs_is_flagged_as_overfitting(tmp_path):
    run = tmp_path / "dpo"
    proc = run_cli("train", "dpo", "-c", "dpo/reviews-tiny-overfit", *QUIET, f"run_dir={run}", timeout=900)
    flags = json.loads((run / "diagnostics.json").read_text())["flags"]
    # measured (2026-12-02): held-out loss 0.604 → 0.534 → 0.542 → 0.558 while the training loss falls: epochs 3
    # and 4 worsen it beyond the 1% tolerance; epochs 1 and 2 generalise
    overfit = [f for f in flags if f["kind"] == "overfitting"]
    assert overfit and all(f["epoch"] >= 2 for f in overfit), flags
    assert "flag overfitting" in proc.stderr
