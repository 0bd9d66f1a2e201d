"""A sweep's over-optimisation curves: seed averaging, the seed-level peak test, proxy labels and the report."""

import json
from pathlib import Path

import pytest
import yaml

from alignlab.experiments.overoptimisation import cell_curve, overoptimisation, proxy_label, run_curve
from alignlab.experiments.spec import Job
from alignlab.report import overoptimisation as report


def _pts(gold, proxy, d=(0.0, 0.5, 1.0, 1.5)):
    return [{"step": 10 * i, "sqrt_kl": x, "gold": g, "proxy": p} for i, (x, g, p) in enumerate(zip(d, gold, proxy, strict=True))]


def test_gold_turning_down_while_the_proxy_rises_is_over_optimisation():
    per_seed = {s: _pts([0.3, 0.6 + e, 0.5 + e, 0.4 + e], [0.0, 1.0, 2.0, 3.0 + e]) for s, e in
                enumerate((0.0, 0.01, -0.01))}
    c = cell_curve("rl", per_seed)
    assert c["peak_index"] == 1 and c["seeds"] == [0, 1, 2]
    assert c["points"][1]["gold"]["mean"] == pytest.approx(0.6)
    assert c["gold_drop"]["mean"] == pytest.approx(0.2)  # each seed drops 0.2 from its peak to the last point
    assert c["proxy_rise"]["mean"] == pytest.approx(2.0)
    assert c["gold_drop"]["ci_low"] > 0 and c["overoptimised"] is True
    assert c["fit"] is not None and c["fit"]["beta"] > 0


def test_a_rising_curve_has_no_drop_and_few_seeds_give_no_verdict():
    rising = cell_curve("bon", {s: _pts([0.3, 0.4, 0.5, 0.6], [0, 1, 2, 3]) for s in range(3)})
    assert rising["peak_index"] == 3 and "gold_drop" not in rising and "overoptimised" not in rising
    two = cell_curve("rl", {s: _pts([0.3, 0.6, 0.5, 0.4], [0, 1, 2, 3]) for s in range(2)})
    assert two["gold_drop"]["ci_low"] is None and "overoptimised" not in two


def test_a_noisy_drop_is_not_called_over_optimisation():
    per_seed = {0: _pts([0.3, 0.6, 0.5, 0.7], [0, 1, 2, 3]), 1: _pts([0.3, 0.6, 0.5, 0.4], [0, 1, 2, 3]),
                2: _pts([0.3, 0.6, 0.5, 0.45], [0, 1, 2, 3])}
    c = cell_curve("rl", per_seed)
    assert c["peak_index"] == 1 and c["overoptimised"] is False  # one seed rises again: the drop's CI spans 0


def _run(path: Path, split: str, points: list[dict], scorer: str) -> None:
    path.mkdir(parents=True)
    rows = [{"step": p["step"], "split": split, "sqrt_kl": p["sqrt_kl"], "gold_reward_mean": p["gold"],
             "reward_mean": p["proxy"]} for p in points] + [{"step": 0, "split": "train", "loss": 1.0}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "config.yaml").write_text(yaml.safe_dump({"reward": {"scorer": scorer}, "eval": {"proxy": None}}))


def test_curves_are_read_from_runs_and_grouped_by_proxy_stage(tmp_path):
    jobs = []
    for seed in (0, 1):
        rm = f"reward_model:{tmp_path}/setup/rm-small-s{seed}"
        _run(tmp_path / "cells" / f"rloo-s{seed}", "eval", _pts([0.3, 0.5, 0.4], [0, 1, 2], (0, 1, 2)), rm)
        _run(tmp_path / "cells" / f"bon-s{seed}", "best_of_n", _pts([0.3, 0.4, 0.5], [0, 1, 2], (0, 1, 2)), rm)
        jobs += [Job(f"rloo-s{seed}", "rloo", "rloo", None, [], seed), Job(f"bon-s{seed}", "bon", "bon", None, [], seed)]
    curves = overoptimisation(tmp_path, jobs)
    assert set(curves) == {"rloo", "bon"}
    assert curves["rloo"]["form"] == "rl" and curves["bon"]["form"] == "bon"
    assert curves["rloo"]["proxy"] == curves["bon"]["proxy"] == "reward_model:rm-small"
    assert run_curve(tmp_path / "nowhere") is None
    assert proxy_label(tmp_path / "nowhere") == "?"
    table = report.rows(curves)
    assert [r[0] for r in table] == ["rloo", "bon"]
    assert table[0][-1].startswith("no verdict")  # two seeds
    assert report.figure(curves, tmp_path / "f.png").exists()
    assert report.figure({}, tmp_path / "g.png") is None
