"""Best-of-n: its analytic KL and the unbiased estimator of its expected gold and proxy, against hand-computed
values and a brute-force enumeration of every n-subset."""

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlab.evaluation.overoptimisation import (
    best_of_n_curve,
    best_of_n_expectation,
    best_of_n_weights,
    kl_best_of_n,
)


def test_kl_of_best_of_n_by_hand():
    assert kl_best_of_n(1) == 0.0
    assert kl_best_of_n(2) == pytest.approx(math.log(2) - 0.5)  # 0.1931
    assert kl_best_of_n(16) == pytest.approx(math.log(16) - 15 / 16)  # 1.8351
    with pytest.raises(ValueError, match="n ≥ 1"):
        kl_best_of_n(0)


def test_weights_by_hand():
    # 4 replies, best of 2: the top one wins 3 of the 6 pairs, the second 2, the third 1, the lowest never
    assert best_of_n_weights(2, 4).tolist() == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6])
    assert best_of_n_weights(1, 3).tolist() == pytest.approx([1 / 3] * 3)
    assert best_of_n_weights(3, 3).tolist() == pytest.approx([0, 0, 1])
    with pytest.raises(ValueError, match="at least 5 replies"):
        best_of_n_weights(5, 4)


def test_expectation_by_hand():
    proxy = [0.9, 0.1, 0.5, 0.3]
    gold = [0.2, 0.0, 1.0, 0.4]  # the proxy's best reply is gold's worst but one: over-optimisation in miniature
    # sorted by proxy: gold 0.0, 0.4, 1.0, 0.2 with best-of-2 weights 0, 1/6, 2/6, 3/6
    assert best_of_n_expectation(proxy, gold, 2) == pytest.approx((0.4 + 2 * 1.0 + 3 * 0.2) / 6)
    assert best_of_n_expectation(proxy, gold, 1) == pytest.approx(sum(gold) / 4)
    assert best_of_n_expectation(proxy, gold, 4) == pytest.approx(0.2)
    assert best_of_n_expectation(proxy, proxy, 2) == pytest.approx((0.3 + 2 * 0.5 + 3 * 0.9) / 6)


def test_a_tie_is_broken_at_random():
    # the two top replies tie on the proxy: best-of-4 returns either, so its expected gold is their mean
    assert best_of_n_expectation([0.5, 0.5, 0.1, 0.2], [1.0, 0.0, 0.3, 0.3], 4) == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 10_000))
def test_expectation_equals_the_mean_over_every_subset(n_plus, seed):
    rng = random.Random(seed)
    total = rng.randint(n_plus, 7)
    n = n_plus
    proxy = [rng.random() for _ in range(total)]  # no ties: the argmax of each subset is unique
    gold = [rng.random() for _ in range(total)]
    subsets = list(itertools.combinations(range(total), n))
    brute = sum(gold[max(s, key=lambda i: proxy[i])] for s in subsets) / len(subsets)
    assert best_of_n_expectation(proxy, gold, n) == pytest.approx(brute)


def test_curve_rows():
    proxy = [[0.9, 0.1, 0.5, 0.3], [0.0, 1.0, 0.5, 0.2]]
    gold = [[0.2, 0.0, 1.0, 0.4], [0.1, 0.1, 0.9, 0.3]]
    rows = best_of_n_curve(proxy, gold, [1, 2, 4])
    assert [r["n"] for r in rows] == [1, 2, 4]
    assert rows[0]["kl"] == 0.0 and rows[2]["sqrt_kl"] == pytest.approx(math.sqrt(math.log(4) - 0.75))
    assert rows[2]["gold"] == pytest.approx((0.2 + 0.1) / 2) and rows[2]["proxy"] == pytest.approx((0.9 + 1.0) / 2)
    assert rows[0]["gold"] == pytest.approx((1.6 / 4 + 1.4 / 4) / 2)
    assert all(r["prompts"] == 2 for r in rows)
