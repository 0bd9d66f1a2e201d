"""Sweep statistics against values worked out by hand."""

import math

import numpy as np
import pytest

from alignlab.experiments.aggregate import memory_table
from alignlab.experiments.statistics import (
    benjamini_hochberg,
    ci_front,
    compare_seeds,
    holm,
    interpolate_at,
    pareto_front,
    seed_ci,
)


def test_seed_ci_student_t_by_hand():
    # values 1, 2, 3: mean 2, sample SD 1, t_{0.975, 2} = 4.302653, half-width 4.302653 / sqrt(3) = 2.484138
    r = seed_ci([1.0, 2.0, 3.0])
    assert r["mean"] == pytest.approx(2.0)
    assert r["sd"] == pytest.approx(1.0)
    assert r["ci_low"] == pytest.approx(2 - 2.484138, abs=1e-5)
    assert r["ci_high"] == pytest.approx(2 + 2.484138, abs=1e-5)
    assert r["n"] == 3


def test_seed_ci_below_three_seeds_gives_values_and_no_ci():
    r = seed_ci([0.0, 2.0])
    assert r["mean"] == pytest.approx(1.0) and r["values"] == [0.0, 2.0]
    assert r["ci_low"] is None and r["ci_high"] is None


def test_seed_ci_single_and_empty_and_nan():
    assert seed_ci([0.5]) == {"mean": 0.5, "ci_low": None, "ci_high": None, "n": 1, "sd": None, "values": [0.5]}
    assert seed_ci([])["n"] == 0 and math.isnan(seed_ci([])["mean"])
    assert seed_ci([1.0, float("nan"), 3.0, 2.0])["mean"] == pytest.approx(2.0)


def _values(per_seed_prompt: dict[int, list[list[float]]]) -> dict[tuple, float]:
    """{seed: [[replies of prompt 0], [replies of prompt 1], ...]} → {(seed, prompt, reply): value}."""
    return {(s, p, r): v for s, prompts in per_seed_prompt.items() for p, reps in enumerate(prompts)
            for r, v in enumerate(reps)}


def test_compare_seeds_by_hand():
    # B is 0 everywhere. A's replies average per prompt to (0.1, 0.1), (0.1, 0.3), (0.2, 0.4) → per-seed
    # differences D = 0.1, 0.2, 0.3: mean 0.2, SD 0.1, t = 0.2 / (0.1 / √3) = 3.4641 on 2 df → p = 0.07418;
    # t interval 0.2 ± 4.302653 · 0.1 / √3 = [−0.04841, 0.44841]
    mine = _values({0: [[0.0, 0.2], [0.1, 0.1]], 1: [[0.1, 0.1], [0.3, 0.3]], 2: [[0.2, 0.2], [0.4, 0.4]]})
    theirs = {k: 0.0 for k in mine}
    r = compare_seeds(mine, theirs, resamples=400)
    assert r["per_seed"] == pytest.approx([0.1, 0.2, 0.3]) and r["diff"] == pytest.approx(0.2)
    assert r["n_seeds"] == 3 and r["n_prompts"] == 2
    assert r["p_value"] == pytest.approx(0.07418, abs=1e-4)
    assert r["t_low"] == pytest.approx(-0.04841, abs=1e-4) and r["t_high"] == pytest.approx(0.44841, abs=1e-4)
    # the hierarchical bootstrap stays inside the range of prompt-level means: [0.1, 0.4]
    assert 0.1 - 1e-9 <= r["ci_low"] <= 0.2 <= r["ci_high"] <= 0.4 + 1e-9


def test_compare_seeds_below_three_seeds_reports_per_seed_values_only():
    mine = _values({0: [[1.0]], 1: [[2.0]]})
    r = compare_seeds(mine, {k: 0.0 for k in mine})
    assert r["per_seed"] == [1.0, 2.0] and r["p_value"] is None and r["ci_low"] is None
    assert "fewer than 3 seeds" in r["reason"]


def test_compare_seeds_pairs_by_rank_and_uses_only_shared_prompts():
    from alignlab.experiments.aggregate import seed_pairing

    assert seed_pairing([0, 1, 2], [2, 0, 1]) == ([(0, 0), (1, 1), (2, 2)], "same seed")
    pairs, how = seed_pairing([3, 4, 5], [0, 1, 2])
    assert pairs == [(3, 0), (4, 1), (5, 2)] and how.startswith("by rank")
    mine = {(3, 0): 1.0, (3, 1): 5.0, (4, 0): 2.0, (5, 0): 3.0}
    theirs = {(0, 0): 0.0, (1, 0): 0.0, (2, 0): 0.0}  # prompt 1 only in mine: not compared
    assert compare_seeds(mine, theirs, seed_pairs=pairs, resamples=50)["per_seed"] == [1.0, 2.0, 3.0]


def test_identical_seeds_differences_have_p_one():
    mine = _values({s: [[0.5, 0.7]] for s in range(3)})
    r = compare_seeds(mine, dict(mine), resamples=50)
    assert r["diff"] == 0 and r["p_value"] == 1.0


def test_holm_and_benjamini_hochberg_by_hand():
    # sorted 0.01, 0.03, 0.04 (m = 3): Holm 3·0.01 = 0.03, 2·0.03 = 0.06, max(1·0.04, 0.06) = 0.06
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    # BH: 0.01·3/1 = 0.03, 0.03·3/2 = 0.045, 0.04·3/3 = 0.04; monotone from the top: 0.03, 0.04, 0.04
    assert benjamini_hochberg([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.04, 0.04, None])
    assert holm([0.6, 0.9]) == [1.0, 1.0]


def test_ci_front_keeps_points_whose_cis_overlap():
    # (KL interval, reward interval); lower KL, higher reward are better.
    pts = [((1.0, 1.2), (0.5, 0.6)),   # 0: front
           ((1.1, 1.3), (0.45, 0.55)),  # 1: worse means than 0, but its CIs overlap 0's: stays
           ((2.0, 2.2), (0.1, 0.2)),    # 2: beaten by 0 beyond both CIs: leaves
           ((0.2, 0.3), (0.0, 0.1))]    # 3: low KL, low reward: front
    assert ci_front(pts, maximize_x=False) == [0, 1, 3]
    means = [((a + b) / 2, (c + d) / 2) for (a, b), (c, d) in pts]
    assert pareto_front(means, maximize_x=False) == [0, 3]


def test_interpolate_at_by_hand():
    assert interpolate_at([1.0, 3.0], [0.2, 0.6], 2.0) == pytest.approx(0.4)
    assert interpolate_at([3.0, 1.0, 2.0], [0.6, 0.2, 0.5], 1.5) == pytest.approx(0.35)  # sorted by x first
    assert interpolate_at([1.0, 3.0], [0.2, 0.6], 3.5) is None  # no extrapolation
    assert interpolate_at([1.0, 3.0], [0.2, 0.6], 1.0) == pytest.approx(0.2)


SEED_SD = 0.04
"""Seed-to-seed SD of one cell's mean (everything included), the size the studies' seed CIs show (0.02–0.06)."""


def simulate(rng, seeds: int, effect: float, shared: float = 0.5, prompts: int = 32, replies: int = 6,
             prompt_sd: float = 0.3, reply_sd: float = 0.3) -> tuple[dict, dict]:
    """Per-(seed, prompt, reply) values of two cells whose per-seed means vary with SD SEED_SD in all:
    - a share `shared` of that variance is common to both cells of a seed (the setup stages of that seed, its
      data order, its evaluation sampling seed);
    - the reply noise of one run's mean (reply_sd² / (prompts · replies)) is part of the rest;
    - the remainder is each cell's own training noise;
    - prompts have a difficulty common to both cells (paired away within a seed)."""
    within = reply_sd ** 2 / (prompts * replies)
    own = SEED_SD ** 2 * (1 - shared) - within
    assert own >= 0, "the reply noise alone exceeds the cell's own seed variance"
    setup = rng.normal(0, SEED_SD * math.sqrt(shared), seeds)
    difficulty = rng.normal(0, prompt_sd, prompts)

    def cell(shift: float) -> dict:
        train = rng.normal(0, math.sqrt(own), seeds)
        vals = shift + setup[:, None, None] + train[:, None, None] + difficulty[None, :, None] \
            + rng.normal(0, reply_sd, (seeds, prompts, replies))
        return {(s, p, r): float(vals[s, p, r]) for s in range(seeds) for p in range(prompts) for r in range(replies)}

    return cell(effect), cell(0.0)


def rejection_rate(rng, trials: int, **kw) -> float:
    return sum(compare_seeds(*simulate(rng, **kw), resamples=20)["p_value"] < 0.05 for _ in range(trials)) / trials


@pytest.mark.parametrize("seeds, shared", [(3, 0.5), (5, 0.5), (3, 0.0)])
def test_null_aa_comparisons_keep_the_false_positive_rate(seeds, shared):
    rate = rejection_rate(np.random.default_rng(seeds), 600, seeds=seeds, effect=0.0, shared=shared)
    assert 0.02 <= rate <= 0.08, rate


def test_a_reply_level_test_that_ignores_seeds_fails_the_null_check():
    # What the old statistics did: pool every (seed, prompt, reply) unit as if independent. With seed-to-seed
    # variance of its own in each cell it calls far more than 5% of A/A comparisons significant, so the null
    # check above can fail.
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(7)
    trials, hits = 300, 0
    for _ in range(trials):
        a, b = simulate(rng, 3, 0.0, shared=0.0)
        hits += scipy_stats.ttest_1samp([a[k] - b[k] for k in a], 0.0).pvalue < 0.05
    assert hits / trials > 0.15, hits / trials  # measured: 0.29


def test_power_for_two_seed_sds_with_five_seeds():
    # cells of one seed share half the seed variance (same setup stages, data order and sampling seed): the
    # per-seed difference then has SD = SEED_SD, and 2 seed SDs are found > 80% of the time with 5 seeds
    rate = rejection_rate(np.random.default_rng(11), 400, seeds=5, effect=2 * SEED_SD, shared=0.5)
    assert rate > 0.8, rate
    # with nothing shared the difference's SD is √2 · SEED_SD and the same test finds it about 60% of the time
    # (docs/studies.md states this limit)
    rate = rejection_rate(np.random.default_rng(12), 400, seeds=5, effect=2 * SEED_SD, shared=0.0)
    assert 0.4 < rate < 0.8, rate


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


def test_matched_kl_reads_each_seed_off_its_curve():
    from alignlab.config.sweep import SweepSpec
    from alignlab.experiments.aggregate import matched_kl

    def row(method, kl, gold, seed, point):
        return {"cell": f"{method}-b={point}", "method": method, "seed": seed, "verb": "dpo", "kl_k1": kl,
                "gold_reward_mean": gold}

    rows = []
    for s, shift in enumerate((0.0, 0.02, 0.04)):
        rows += [row("base", 1.0, 0.1 + shift, s, 1), row("base", 3.0, 0.3 + shift, s, 2),   # 0.2 + shift at KL 2
                 row("new", 1.0, 0.2, s, 1), row("new", 3.0, 0.6 + 2 * shift, s, 2),        # 0.4 + shift at KL 2
                 {"cell": "single", "method": "single", "seed": s, "verb": "dpo", "kl_k1": 2.0, "gold_reward_mean": 9.0}]
    spec = SweepSpec.model_validate({"name": "m", "config": "dpo/reviews-tiny", "baseline": "base",
                                     "cells": [{"name": "base"}, {"name": "new"}, {"name": "single"}],
                                     "kl_levels": [2.0, 5.0]})
    mk = matched_kl(spec, rows, resamples=50)
    assert mk["curves"] == ["base", "new"]  # a single point is no curve
    gold = mk["methods"]["new"]["2.0"]["gold_reward_mean"]
    assert gold["values"] == pytest.approx([0.4, 0.42, 0.44])
    assert "5.0" not in mk["methods"]["new"]  # outside every curve: never extrapolated
    comp = mk["comparisons"]["new"]["2.0"]["gold_reward_mean"]
    assert comp["per_seed"] == pytest.approx([0.2, 0.2, 0.2]) and comp["p_value"] == 0.0
    # automatic levels: inside the KL range both curves cover (1 to 3): 1.5, 2, 2.5
    auto = matched_kl(spec.model_copy(update={"kl_levels": None}), rows, resamples=20)
    assert auto["levels"] == [1.5, 2.0, 2.5]
