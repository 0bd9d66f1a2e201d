"""Evaluation metrics against values worked out by hand."""

import math
import random

import pytest

from alignlab.evaluation.metrics import (
    bleu,
    distinct_n,
    length_controlled_win_rate,
    mean_ci,
    pooled_token_entropy,
    ranking_accuracy,
    repetition_rate,
    self_bleu,
    win_rate,
    words,
)


def test_pooled_entropy_by_hand():
    # prompt 1 pools [a a b b] → p = ½, ½ → ln 2; prompt 2 pools [c c c c] → 0; mean ln2 / 2.
    groups = [[["a", "a"], ["b", "b"]], [["c", "c"], ["c", "c"]]]
    assert pooled_token_entropy(groups) == pytest.approx(math.log(2) / 2)
    # four distinct tokens in one prompt: ln 4
    assert pooled_token_entropy([[[1, 2], [3, 4]]]) == pytest.approx(math.log(4))
    # a prompt whose replies are all empty counts 0 (skipping it would reward collapse): (ln 4 + 0) / 2
    assert pooled_token_entropy([[[1, 2], [3, 4]], [[], []]]) == pytest.approx(math.log(4) / 2)


def test_distinct_n_by_hand():
    texts = [words("the film was good"), words("the film was bad")]
    # unigrams: the film was good the film was bad → 5 distinct of 8
    assert distinct_n(texts, 1) == pytest.approx(5 / 8)
    # bigrams: (the film) (film was) (was good) / (the film) (film was) (was bad) → 4 distinct of 6
    assert distinct_n(texts, 2) == pytest.approx(4 / 6)
    assert distinct_n([["a"]], 2) == 0.0


def test_repetition_rate_by_hand():
    # trigrams of "a b c a b c": abc bca cab abc → one repeat of 4
    assert repetition_rate(list("abcabc"), 3) == pytest.approx(1 / 4)
    assert repetition_rate(list("abcd"), 3) == 0.0


def test_self_bleu_identical_is_one_and_disjoint_is_zero():
    same = words("a great film with a great cast")
    assert self_bleu([[same, same, same]]) == pytest.approx(1.0)
    assert self_bleu([[["a", "b", "c"], ["x", "y", "z"]]]) == 0.0
    # a group of one reply has nothing to compare with
    assert self_bleu([[same]]) == 0.0


def test_bleu_by_hand():
    # hyp "a b" vs ref "a c": p1 = 1/2; p2 smoothed (0 + 1) / (1 + 1) = 1/2; max_n 2 → sqrt(¼) = ½, no brevity cut
    assert bleu(["a", "b"], [["a", "c"]], max_n=2) == pytest.approx(0.5)
    # shorter hypothesis: "a" vs "a b": p1 = 1, BP = exp(1 − 2/1) = e^-1 (max_n 1)
    assert bleu(["a"], [["a", "b"]], max_n=1) == pytest.approx(math.exp(-1))


def test_mean_ci_by_hand():
    ci = mean_ci([1.0, 2.0, 3.0])  # s = 1, s/√3 = 0.57735
    assert ci["mean"] == 2.0
    assert ci["ci_high"] - ci["mean"] == pytest.approx(1.959964 * 0.57735, rel=1e-4)
    assert mean_ci([0.0, 0.0])["ci_low"] == 0.0


def test_win_rate_counts_ties_separately():
    wr = win_rate([1.0, 0.5, 0.2, 0.3], [0.5, 0.5, 0.4, 0.1], resamples=200)
    # win, tie, loss, win → (2 + 0.5) / 4
    assert wr["win_rate"] == pytest.approx(0.625)
    assert (wr["wins"], wr["ties"], wr["losses"]) == (0.5, 0.25, 0.25)
    # a tie margin turns the 0.2 gap into a tie as well
    assert win_rate([1.0, 0.5, 0.2, 0.3], [0.5, 0.5, 0.4, 0.1], tie_margin=0.2, resamples=10)["ties"] == 0.75


def test_win_rate_bootstrap_ci_covers_the_true_rate():
    # 20 synthetic evaluations of 300 pairs each with a true win probability of 0.6: the 95% CI must cover 0.6 in
    # nearly all of them (a CI that is too narrow, or off-centre, fails this).
    covered = 0
    for trial in range(20):
        rng = random.Random(trial)
        policy = [1.0 if rng.random() < 0.6 else 0.0 for _ in range(300)]
        wr = win_rate(policy, [0.5] * 300, resamples=400, seed=trial)
        assert wr["ci_low"] < wr["win_rate"] < wr["ci_high"]
        assert wr["ci_high"] - wr["ci_low"] < 0.15
        covered += wr["ci_low"] <= 0.6 <= wr["ci_high"]
    assert covered >= 17


def test_length_controlled_win_rate_removes_a_pure_length_effect():
    # The policy wins exactly when its reply is longer, half the time longer and half shorter: the raw win rate
    # is 0.5 and so is the length-controlled one; when it is longer 80% of the time the raw rate is 0.8 but the
    # rate at equal length stays near 0.5.
    rng = random.Random(0)
    diffs = [rng.uniform(1, 10) * (1 if rng.random() < 0.8 else -1) for _ in range(400)]  # longer 80% of the time
    longer = [float(d > 0) for d in diffs]
    noisy = [w if rng.random() < 0.85 else 1 - w for w in longer]  # length explains most, not all, of the outcome
    raw = win_rate(noisy, [0.5] * 400, resamples=50)["win_rate"]
    lc = length_controlled_win_rate(noisy, [0.5] * 400, [max(d, 0) for d in diffs], [max(-d, 0) for d in diffs],
                                    resamples=30)
    assert raw > 0.6
    assert abs(lc["win_rate"] - 0.5) < abs(raw - 0.5) / 2
    assert lc["ci_low"] <= lc["win_rate"] <= lc["ci_high"]


def test_fast_self_bleu_equals_the_direct_definition():
    # self_bleu keeps the two largest counts per n-gram instead of looping over every other reply: it must give
    # exactly the mean BLEU of each reply against the others, ties of the largest count included
    import statistics

    rng = random.Random(1)
    vocab = list("abcdefgh")
    groups = [[[rng.choice(vocab) for _ in range(rng.randint(0, 12))] for _ in range(rng.randint(2, 5))]
              for _ in range(60)]
    groups.append([list("abab"), list("abab"), list("ab")])  # two replies share the largest count of (a, b)
    direct = statistics.fmean(bleu(r, [o for j, o in enumerate(g) if j != i]) for g in groups for i, r in enumerate(g))
    assert self_bleu(groups) == pytest.approx(direct, abs=1e-12)


def test_ranking_accuracy_counts_ties_half():
    # right, wrong, two ties, right → (1 + 0 + ½ + ½ + 1) / 5
    assert ranking_accuracy([1.0, -1.0, 0.0, 0.0, 2.0]) == pytest.approx(0.6)
    # a policy against itself: every implicit-reward margin is 0 → chance, not 0
    assert ranking_accuracy([0.0] * 8) == 0.5
    assert ranking_accuracy([]) == 0.0
