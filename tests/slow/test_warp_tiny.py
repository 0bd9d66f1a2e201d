"""Acceptance checks of WARP on the real default model: the preset completes, its report holds every run, merge
and sweep point, the policy improves on the SFT start, and the sweep runs from KL 0 upwards."""

from __future__ import annotations

import json

import pytest
from tests.conftest import run_cli
from tests.slow.test_dpo_tiny import QUIET

pytestmark = pytest.mark.slow


def test_warp_preset_improves_on_sft_and_reports_every_model(tmp_path):
    run = tmp_path / "warp"
    run_cli("train", "warp", "-c", "warp/reviews-tiny", *QUIET, f"run_dir={run}", timeout=1800)
    report = json.loads((run / "warp.json").read_text())
    e = report["entries"]
    assert {"start", "iter-1/run-1", "iter-1/run-2", "iter-1/slerp", "iter-1/liti", "iter-2/run-1", "iter-2/run-2",
            "iter-2/slerp", "final"} <= set(e)
    assert e["final"]["reward_mean"] > e["start"]["reward_mean"] + 0.3, (e["start"], e["final"])
    # LITI halves the way back to the start: less KL than the SLERP it comes from
    assert e["final"]["kl_k1"] < e["iter-2/slerp"]["kl_k1"]
    # the SLERP stays within noise of its runs (on this task it does not fall off their reward-KL front)
    runs = [e["iter-2/run-1"]["reward_mean"], e["iter-2/run-2"]["reward_mean"]]
    assert e["iter-2/slerp"]["reward_mean"] > min(runs) - 0.05
    sweep = report["summary"]["sweep"]["slerp"]
    assert sweep[0]["kl"] == pytest.approx(0.0, abs=1e-4)
    assert [p["reward"] for p in sweep] == sorted(p["reward"] for p in sweep)  # reward rises along the path
