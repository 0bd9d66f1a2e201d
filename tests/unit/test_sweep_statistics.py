"""Sweep statistics against values worked out by hand."""

import math

import pytest

from alignlab.experiments.aggregate import memory_table
from alignlab.experiments.statistics import paired_bootstrap, pareto_front, seed_ci


def test_seed_ci_student_t_by_hand():
    # values 1, 2, 3: mean 2, sample SD 1, t_{0.975, 2} = 4.302653, half-width 4.302653 / sqrt(3) = 2.484138
    r = seed_ci([1.0, 2.0, 3.0])
    assert r["mean"] == pytest.approx(2.0)
    assert r["sd"] == pytest.approx(1.0)
    assert r["ci_low"] == pytest.approx(2 - 2.484138, abs=1e-5)
    assert r["ci_high"] == pytest.approx(2 + 2.484138, abs=1e-5)
    assert r["n"] == 3


def test_seed_ci_two_seeds_uses_t1():
    # values 0, 2: mean 1, SD sqrt(2), t_{0.975, 1} = 12.7062, half-width 12.7062 * sqrt(2) / sqrt(2) = 12.7062
    r = seed_ci([0.0, 2.0])
    assert r["ci_high"] - r["mean"] == pytest.approx(12.7062, abs=1e-3)


def test_seed_ci_single_and_empty_and_nan():
    assert seed_ci([0.5]) == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5, "n": 1, "sd": 0.0}
    assert seed_ci([])["n"] == 0 and math.isnan(seed_ci([])["mean"])
    assert seed_ci([1.0, float("nan"), 3.0])["mean"] == pytest.approx(2.0)


def test_paired_bootstrap_constant_difference():
    # every unit differs by exactly +0.5: every resampled mean is 0.5, so the CI is [0.5, 0.5] and no resample
    # reaches 0: p is floored at 1 / resamples
    r = paired_bootstrap([1.5, 2.5, 3.5], [1.0, 2.0, 3.0], resamples=200)
    assert r["diff"] == pytest.approx(0.5)
    assert r["ci_low"] == pytest.approx(0.5) and r["ci_high"] == pytest.approx(0.5)
    assert r["p_value"] == pytest.approx(1 / 200)


def test_paired_bootstrap_no_difference_has_p_one():
    r = paired_bootstrap([1.0, 2.0], [1.0, 2.0], resamples=100)
    assert r["diff"] == 0.0 and r["p_value"] == 1.0


def test_paired_bootstrap_mixed_signs_is_not_significant():
    # differences +1, -1, +1, -1: mean 0, resampled means spread on both sides of 0
    r = paired_bootstrap([1, 0, 1, 0], [0, 1, 0, 1], resamples=1000)
    assert r["diff"] == 0.0
    assert r["ci_low"] < 0 < r["ci_high"]
    assert r["p_value"] > 0.5


def test_paired_bootstrap_refuses_unequal_lists():
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_pareto_front_by_hand():
    # (KL, reward), lower KL and higher reward are better: (1, 1) and (2, 3) and (4, 4) are on the front;
    # (3, 2) is dominated by (2, 3); (2, 1) by (1, 1)
    pts = [(1, 1), (2, 3), (3, 2), (4, 4), (2, 1)]
    assert pareto_front(pts, maximize_x=False) == [0, 1, 3]
    # (entropy, reward), both higher is better: only (4, 4) survives
    assert pareto_front(pts, maximize_x=True) == [3]


def test_memory_table_invariant_by_hand():
    # 1,000 fp32 trainable params: SGD keeps no buffer (0 B), momentum one (4,000 B), AdamW two (8,000 B)
    rows = [{"cell": c, "optimizer": o, "lora_r": 0, "trainable_params": 1000, "trainable_param_bytes": 4000,
             "optimizer_state_bytes": b} for c, o, b in
            [("sgd", "sgd", 0), ("mom", "sgd_momentum", 4000), ("adamw", "adamw", 8000), ("bad", "adamw", 4000)]]
    table = {r["cell"]: r for r in memory_table(rows)}
    assert [table[c]["expected_bytes"] for c in ("sgd", "mom", "adamw")] == [0, 4000, 8000]
    assert table["sgd"]["holds"] and table["mom"]["holds"] and table["adamw"]["holds"]
    assert not table["bad"]["holds"]


def test_baseline_is_matched_at_the_same_grid_point():
    from alignlab.experiments.aggregate import baseline_label
    from alignlab.experiments.spec import Job

    def job(cell, method, grid):
        return Job(f"{cell}-s0", cell, "rloo", None, [], 0, grid=grid, method=method)

    jobs = [job("sft", "sft", {}), job("rloo-beta=0.1", "rloo", {"kl.beta": 0.1}),
            job("rloo-beta=0.3", "rloo", {"kl.beta": 0.3}), job("warp-beta=0.3", "warp", {"kl.beta": 0.3})]
    assert baseline_label(jobs, "rloo", {"kl.beta": 0.3}) == "rloo-beta=0.3"
    assert baseline_label(jobs, "sft", {"kl.beta": 0.3}) == "sft"  # a baseline without grid serves every point
    assert baseline_label(jobs, "rloo", {"kl.beta": 0.5}) is None


def test_per_cell_groups_seeds():
    from alignlab.experiments.aggregate import per_cell

    rows = [{"cell": "a", "seed": s, "verb": "dpo", "gold_reward_mean": v} for s, v in [(1, 2.0), (0, 1.0), (2, 3.0)]]
    out = per_cell(rows)["a"]
    assert out["seeds"] == [0, 1, 2] and out["metrics"]["gold_reward_mean"]["mean"] == pytest.approx(2.0)
