import random

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alignlab.data.batching import LengthGroupedBatchSampler, pad_collate
from alignlab.data.sft import IGNORE


def _pad_fraction(batches, lengths):
    pad = total = 0
    for b in batches:
        width = max(lengths[i] for i in b)
        total += width * len(b)
        pad += sum(width - lengths[i] for i in b)
    return pad / total


def test_sampler_is_seeded_complete_and_less_padded():
    rng = random.Random(0)
    lengths = [rng.choice([10, 20, 40, 120]) + rng.randrange(5) for _ in range(1000)]
    grouped = LengthGroupedBatchSampler(lengths, 16, seed=3)
    flat = LengthGroupedBatchSampler(lengths, 16, seed=3, group_by_length=False)
    batches = list(grouped)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == list(LengthGroupedBatchSampler(lengths, 16, seed=3))
    grouped.set_epoch(1)
    assert list(grouped) != batches
    assert _pad_fraction(batches, lengths) < 0.1 < _pad_fraction(list(flat), lengths)


def test_pad_collate_right_and_left():
    ex = [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    right = pad_collate(0)(ex)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    left = pad_collate(0, "left")(ex)
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert torch.equal(left["attention_mask"], torch.tensor([[1, 1, 1], [0, 0, 1]]))


def _cheapest(lengths: list[int], k: int) -> int:
    """Least padded size of `lengths` cut into k groups, by trying every cut of the sorted order."""
    import itertools

    s = sorted(lengths, reverse=True)
    n = len(s)
    return min(sum((b[t + 1] - b[t]) * s[b[t]] for t in range(k))
               for cuts in itertools.combinations(range(1, n), k - 1) for b in [[0, *cuts, n]])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 80), min_size=1, max_size=9), st.sampled_from([0.0, 0.05, 0.2, 1.0]))
def test_length_groups_are_the_fewest_and_cheapest_within_the_padding_limit(lengths, max_padding):
    from alignlab.data.batching import length_groups

    groups = length_groups(lengths, max_padding)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths))) and all(groups)
    padded, real = sum(len(g) * max(lengths[i] for i in g) for g in groups), sum(lengths)
    assert padded - real <= max_padding * padded + 1e-9
    assert padded == _cheapest(lengths, len(groups))  # the best cut for this many groups
    if len(groups) > 1:  # one group fewer could not meet the limit
        fewer = _cheapest(lengths, len(groups) - 1)
        assert fewer - real > max_padding * fewer


def test_length_groups_by_hand():
    from alignlab.data.batching import length_groups

    # lengths 5, 1, 5: one group pads the 1 to 5 (4 of 15 padded, 27 %); two groups [5, 5] | [1] pad nothing
    assert length_groups([5, 1, 5], 0.05) == [[0, 2], [1]]
    assert length_groups([5, 1, 5], 0.3) == [[0, 2, 1]]  # 27 % is within 30 %: one group
    # 4, 3, 2, 1: two groups at best [4,3] | [2,1] pad 2 of 12 (17 %); three groups pad 1 of 11 (9 %: [4] | [3] |
    # [2,1] or [4] | [3,2] | [1], a tie); four pad nothing
    assert length_groups([4, 3, 2, 1], 0.05) == [[0], [1], [2], [3]]
    three = length_groups([4, 3, 2, 1], 0.1)
    assert len(three) == 3 and sum(len(g) * max(4 - i for i in g) for g in three) == 11
    assert length_groups([4, 3, 2, 1], 0.2) == [[0, 1], [2, 3]]
