"""WARP's plumbing by hand: each run's config (seed, init, anchor), config errors, the report's comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.config import ConfigError, load_config
from alignlab.pipelines.warp import check_warp_config, run_config
from alignlab.report.warp import WarpReport, reward_at


def test_runs_differ_in_seed_start_from_the_current_init_and_use_the_ema_anchor():
    cfg = load_config("warp/reviews-tiny", ["seed=3", "ref.mode=auto"])
    first = run_config(cfg, cfg.model.name_or_path, 1, 1, Path("R/iter-1/run-1"))
    second = run_config(cfg, cfg.model.name_or_path, 1, 2, Path("R/iter-1/run-2"))
    later = run_config(cfg, "R/iter-1/liti", 2, 1, Path("R/iter-2/run-1"))
    assert (first.seed, second.seed, later.seed) == (3, 4, 1003)
    assert first.model.name_or_path == "builtin:reviews-tiny-sft"
    assert later.model.name_or_path == "R/iter-1/liti"  # LITI's output is what the next round loads
    assert {c.ref.mode for c in (first, second, later)} == {"ema"}
    assert later.run_dir == "R/iter-2/run-1" and later.rl.iterations == cfg.rl.iterations


def test_a_fixed_anchor_can_be_chosen_for_ablations():
    cfg = load_config("warp/reviews-tiny", ["ref.mode=copy"])
    assert run_config(cfg, "x", 1, 1, Path("r")).ref.mode == "copy"


@pytest.mark.parametrize("override,field", [("ref.mode=precomputed", "ref.mode"), ("data.eval_split=null", "data.eval_split"),
                                            ("rl.k=1", "rl.k")])
def test_config_errors_name_the_field(override, field):
    with pytest.raises(ConfigError, match=field):
        check_warp_config(load_config("warp/reviews-tiny", [override]))


def test_sweep_points_are_checked_and_sorted():
    assert load_config("warp/reviews-tiny", ["warp.sweep=[1.0,0.0,0.5,0.5]"]).warp.sweep == [0.0, 0.5, 1.0]
    with pytest.raises(ConfigError, match="warp.sweep"):
        load_config("warp/reviews-tiny", ["warp.sweep=[1.5]"])


def test_report_compares_each_merge_with_its_runs(tmp_path):
    report = WarpReport(tmp_path / "warp.json")
    report.add("iter-1/run-1", {"kind": "run", "iteration": 1, "reward_mean": 0.4, "kl_k1": 2.0})
    report.add("iter-1/run-2", {"kind": "run", "iteration": 1, "reward_mean": 0.6, "kl_k1": 4.0})
    report.add("iter-1/slerp", {"kind": "slerp", "iteration": 1, "reward_mean": 0.55, "kl_k1": 2.5})
    report.add("final", {"kind": "final", "iteration": 1, "reward_mean": 0.3, "kl_k1": 1.0})
    report.add("sweep/eta=1", {"kind": "sweep", "eta": 1.0, "reward_mean": 0.55, "kl_k1": 2.5})
    report.add("sweep/eta=0", {"kind": "sweep", "eta": 0.0, "reward_mean": 0.1, "kl_k1": 0.0})
    r = report.summary()["rounds"]["1"]
    assert r["runs_reward_mean"] == pytest.approx(0.5) and r["runs_kl_mean"] == pytest.approx(3.0)
    assert r["slerp_reward_at_least_runs_mean"] and r["slerp_kl_at_most_runs_mean"]
    assert (r["liti_reward"], r["liti_kl"]) == (0.3, 1.0)
    # the slerp curve (0, 0.1) → (2.5, 0.55): at the runs' mean KL 3.0 it is out of range
    assert report.summary()["rounds"]["1"]["sweep_reward_at_runs_kl"] is None
    report.add("sweep/eta=0.5", {"kind": "sweep", "target": "slerp", "eta": 0.5, "reward_mean": 0.4, "kl_k1": 1.0})
    report.add("sweep-run-1/eta=1", {"kind": "sweep", "target": "run-1", "eta": 1.0, "reward_mean": 0.45, "kl_k1": 2.0})
    summary = report.summary()
    assert [p["kl"] for p in summary["sweep"]["slerp"]] == [0.0, 1.0, 2.5]
    # at KL 2.0 the slerp curve is 0.4 + (0.55 − 0.4)·(1.0 / 1.5) = 0.5: 0.05 above the run's point
    assert summary["curve_gain"]["slerp_minus_run-1"] == pytest.approx(0.05)
    again = WarpReport(tmp_path / "warp.json")  # persisted after every entry: a resumed run skips them
    assert set(again.entries) == set(report.entries)
    assert report.plot(tmp_path / "p.png").stat().st_size > 0


def test_reward_at_interpolates_inside_the_curve_only():
    curve = [(0.0, 0.0), (2.0, 1.0), (4.0, 1.5)]
    assert reward_at(curve, 1.0) == pytest.approx(0.5)
    assert reward_at(curve, 3.0) == pytest.approx(1.25)
    assert reward_at(curve, 5.0) is None and reward_at(curve, None) is None
