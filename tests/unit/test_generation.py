import torch

from alignlab.generation.sample import _lengths


def test_generated_lengths_stop_at_the_first_eos_or_pad():
    new = torch.tensor([[5, 6, 0, 0], [5, 6, 7, 8], [0, 1, 1, 1], [5, 9, 6, 9]])
    assert _lengths(new, {0}) == [2, 4, 0, 4]
    assert _lengths(new, {0, 9}) == [2, 4, 0, 1]
