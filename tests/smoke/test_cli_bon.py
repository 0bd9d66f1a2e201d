"""`alignlab bon` on the micro model: the best-of-n curve against √KL, its run folder and report, bad settings."""

from __future__ import annotations

import json
import math

import pytest
from tests.conftest import MICRO, invoke_cli, metric_rows

BON_FAST = [f"model.name_or_path={MICRO}", "model.device=cpu", "data.dataset=builtin:reviews", "eval.split=test",
            "eval.prompts=3", "generation.max_new_tokens=12", "generation.temperature=1.0", "generation.top_k=0",
            "reward.scorer=vader", "bon.n=[1,2,4]", "bon.samples=6", "logging.progress=false",
            "logging.report_to=[]"]


def test_best_of_n_curve_run_folder_and_report(alignlab_home, tmp_path):
    run_dir = tmp_path / "bon"
    out = invoke_cli("bon", *BON_FAST, f"run_dir={run_dir}").output
    assert "n   4" in out and "best_of_n.json" in out
    rec = json.loads((run_dir / "best_of_n.json").read_text())
    curve = rec["curve"]
    assert [r["n"] for r in curve] == [1, 2, 4] and rec["replies_per_prompt"] == 6 and rec["proxy"] == "vader"
    assert curve[0]["kl"] == 0.0 and curve[2]["kl"] == pytest.approx(math.log(4) - 0.75)
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 18
    # best-of-1 is the model itself: the mean over every reply; the proxy's best-of-n cannot fall as n grows
    assert curve[0]["gold"] == pytest.approx(sum(s["gold"] for s in samples) / 18)
    assert curve[0]["proxy"] <= curve[1]["proxy"] + 1e-9 <= curve[2]["proxy"] + 2e-9
    rows = metric_rows(run_dir, "best_of_n")
    assert [r["n"] for r in rows] == [1, 2, 4] and all("sqrt_kl" in r and "gold_reward_mean" in r for r in rows)
    report = invoke_cli("report", str(run_dir), "-o", str(tmp_path / "rep"))
    assert report.exit_code == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "d(α − βd)" in md  # three points of best-of-n: the best-of-n form is fitted


def test_bad_best_of_n_settings_fail_in_one_line(alignlab_home, tmp_path):
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    for extra, needle in ((["generation.temperature=0.7"], "distribution sampled"),
                          (["bon.samples=2"], "below the largest n"), (["bon.n=[0,2]"], "each ≥ 1")):
        result = CliRunner().invoke(app, ["bon", *BON_FAST, *extra, f"run_dir={tmp_path / 'x'}"])
        assert result.exit_code == 2, result.output
        assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
