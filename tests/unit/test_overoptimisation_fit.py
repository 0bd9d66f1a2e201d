"""Gao et al.'s over-optimisation forms: exact recovery of known curves and their peaks."""

import math

import pytest

from alignlab.evaluation.overoptimisation import fit

D = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0]


def test_bon_form_is_recovered_with_its_peak():
    gold = [0.3 + d * (0.8 - 0.2 * d) for d in D]  # peak at d* = 0.8 / 0.4 = 2
    f = fit("bon", D, gold)
    assert f.alpha == pytest.approx(0.8) and f.beta == pytest.approx(0.2)
    assert f.d_peak == pytest.approx(2.0) and f.kl_peak == pytest.approx(4.0) and f.peak_observed
    assert f.predict([2.0])[0] == pytest.approx(0.3 + 0.8)


def test_rl_form_is_recovered_with_its_peak():
    gold = [0.1 + (d * (0.5 - 0.4 * math.log(d)) if d else 0.0) for d in D]  # d* = exp(0.5/0.4 - 1) = e^0.25
    f = fit("rl", D, gold)
    assert f.alpha == pytest.approx(0.5) and f.beta == pytest.approx(0.4)
    assert f.d_peak == pytest.approx(math.exp(0.25))
    assert f.peak_observed


def test_a_gain_still_rising_has_no_peak_or_one_outside_the_range():
    rising = [0.2 + 0.3 * d + 0.01 * d * d for d in D]
    assert fit("bon", D, rising).d_peak is None and not fit("bon", D, rising).peak_observed
    bending = [0.2 + d * (1.0 - 0.05 * d) for d in D]  # peak at d = 10, beyond the measured 3
    f = fit("bon", D, bending)
    assert f.d_peak == pytest.approx(10.0) and not f.peak_observed


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown over-optimisation form"):
        fit("ppo", D, D)
    with pytest.raises(ValueError, match="at least 3 points"):
        fit("rl", [0.0, 1.0], [0.1, 0.2])
