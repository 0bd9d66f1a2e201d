"""The run report's gold-and-proxy-against-√KL figure: drawn from the logged held-out evaluations only."""

from alignlab.report.run_report import overoptimisation_figure


def _run(name, rows):
    return {"name": name, "metrics": rows}


def _eval(step, d, gold, proxy, split="eval"):
    return {"split": split, "step": step, "sqrt_kl": d, "gold_reward_mean": gold, "reward_mean": proxy}


def test_figure_has_a_line_per_run_with_two_evaluations(tmp_path):
    runs = [_run("rloo", [_eval(0, 0.0, 0.36, 0.06), {"split": "train", "step": 1, "loss": 1.0},
                          _eval(20, 0.7, 0.52, 0.53), _eval(40, 1.0, 0.50, 0.71)]),
            _run("dpo", [_eval(0, 0.0, 0.36, 0.06, "eval_samples"), _eval(1, 0.9, 0.60, 0.4, "eval_samples")])]
    out = overoptimisation_figure(runs, tmp_path / "f.png")
    assert out == tmp_path / "f.png" and out.stat().st_size > 1000


def test_no_figure_without_gold_kl_curves(tmp_path):
    only_one = [_run("a", [_eval(0, 0.0, 0.3, 0.1)])]
    no_gold = [_run("b", [{"split": "eval", "step": s, "sqrt_kl": 0.1 * s, "reward_mean": 0.1} for s in range(3)])]
    assert overoptimisation_figure(only_one, tmp_path / "a.png") is None
    assert overoptimisation_figure(no_gold, tmp_path / "b.png") is None
    assert not (tmp_path / "a.png").exists()


def test_fit_rows_say_when_the_peak_is_an_extrapolation():
    import math

    from alignlab.report.run_report import overoptimisation_rows

    ds = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    turned = [_eval(i, d, 0.3 + (d * (0.5 - 0.4 * math.log(d)) if d else 0.0), d) for i, d in enumerate(ds)]
    rising = [_eval(i, d, 0.3 + 0.2 * d, d) for i, d in enumerate(ds)]
    rows = {r[0]: r for r in overoptimisation_rows([_run("turned", turned), _run("rising", rising),
                                                    _run("short", turned[:2])])}
    assert set(rows) == {"turned", "rising"}  # two evaluations are too few to fit
    assert rows["turned"][5] == f"{math.exp(0.25) ** 2:.2f}"  # inside the measured range: no caveat
    assert "beyond the measured" in rows["rising"][5] or rows["rising"][5].startswith("no peak")
    assert rows["turned"][2] == "d(α − β log d)"
