import torch

from alignlab.generation.sample import _lengths


def test_generated_lengths_stop_at_the_first_eos_or_pad():
    new = torch.tensor([[5, 6, 0, 0], [5, 6, 7, 8], [0, 1, 1, 1], [5, 9, 6, 9]])
    assert _lengths(new, {0}) == [2, 4, 0, 4]
    assert _lengths(new, {0, 9}) == [2, 4, 0, 1]


def test_top_k_zero_stays_off_and_is_not_replaced_by_the_library_default():
    # transformers fills an unset (None) top_k with 50 at generate time: 0 must be passed through as 0
    from types import SimpleNamespace

    from alignlab.config.common import GenerationConfig
    from alignlab.generation.sample import hf_generation_config

    tok = SimpleNamespace(pad_token_id=1, eos_token_id=0)
    assert hf_generation_config(GenerationConfig(top_k=0), tok).top_k == 0
    assert hf_generation_config(GenerationConfig(top_k=40), tok).top_k == 40
