import math
import random
import statistics

import pytest

from alignlab.data.pairing import ends_sentence, filter_completions, gap_stats, make_pairs


def test_all_pairs_is_n_choose_2_with_higher_score_chosen():
    scores = [0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]
    pairs, counts = make_pairs(scores, "all")
    assert len(pairs) == 28 == math.comb(8, 2)
    assert counts["candidates"] == 28 and counts["ties"] == 0
    assert all(scores[c] > scores[r] for c, r in pairs)
    assert len(set(pairs)) == 28


def test_ties_are_dropped_and_counted():
    # Two 1s and three 3s: C(2,2) + C(3,2) = 4 tied pairs out of 28.
    pairs, counts = make_pairs([1, 1, 2, 3, 3, 3, 4, 5], "all")
    assert counts["ties"] == 4 and len(pairs) == 24 == counts["pairs"]
    assert counts["candidates"] == counts["pairs"] + counts["ties"]


def test_min_gap_drops_close_pairs():
    pairs, counts = make_pairs([0.0, 0.5, 1.0], "all", min_gap=0.6)
    assert pairs == [(2, 0)]
    assert counts["below_gap"] == 2 and counts["candidates"] == 3


def test_min_best_score_drops_the_prompt():
    pairs, counts = make_pairs([1.0, 2.0, 3.0], "all", min_best_score=5.0)
    assert pairs == [] and counts["best_below_min"] == 3 and counts["pairs"] == 0
    assert make_pairs([1.0, 6.0], "all", min_best_score=5.0)[0] == [(1, 0)]


def test_best_worst_and_best_random():
    assert make_pairs([3.0, 1.0, 2.0], "best_worst")[0] == [(0, 1)]
    pairs, counts = make_pairs([2.0, 2.0, 2.0], "best_worst")
    assert pairs == [] and counts["ties"] == 1
    for seed in range(10):
        (c, r), = make_pairs([5.0, 1.0, 5.0 - 1e-3, 2.0], "best_random", rng=random.Random(seed))[0]
        assert c == 0 and r in (1, 2, 3)
    # Study D: a range below the threshold fails the prompt.
    pairs, counts = make_pairs([9.0, 6.0], "best_worst", min_gap=4.0)
    assert pairs == [] and counts["below_gap"] == 1


def test_one_sample_cannot_pair():
    pairs, counts = make_pairs([1.0], "all")
    assert pairs == [] and counts["too_few_samples"] == 1


def test_filters_count_what_they_drop():
    texts = ["Fine film.", "Short.", "cut off mid", "Fine film.", "A good one!", "  Fine film.  "]
    tokens = [3, 1, 3, 3, 3, 3]
    kept, dropped = filter_completions(texts, tokens, min_tokens=2, require_sentence_end=True, drop_duplicates=True)
    assert kept == [0, 4]
    assert dropped == {"too_short": 1, "unfinished": 1, "duplicate": 2}
    assert len(kept) + sum(dropped.values()) == len(texts)
    kept, dropped = filter_completions(texts, tokens, drop_duplicates=False)
    assert kept == list(range(6)) and not dropped


@pytest.mark.parametrize("text, ok", [("It was great.", True), ("Really?", True), ('He said "wow!"', True),
                                      ("It was", False), ("Great film!  ", True), ("ends with a comma,", False)])
def test_ends_sentence(text, ok):
    assert ends_sentence(text) is ok


def test_gap_stats_by_hand():
    s = gap_stats([1.0, 2.0, 3.0, 10.0])
    assert s["median"] == 2.5 and s["mean"] == 4.0 and s["count"] == 4
    assert math.isclose(s["sd"], statistics.stdev([1, 2, 3, 10]))
    assert math.isclose(s["sd"], math.sqrt((9 + 4 + 1 + 36) / 3))
    assert gap_stats([])["median"] is None
