import random

import torch

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
