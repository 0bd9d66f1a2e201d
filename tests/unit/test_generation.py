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


def test_a_static_kv_cache_samples_what_the_dynamic_one_samples():
    from types import SimpleNamespace

    from transformers import GPT2Config, GPT2LMHeadModel

    from alignlab.config.common import GenerationConfig
    from alignlab.generation.sample import hf_generation_config

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    tok = SimpleNamespace(pad_token_id=1, eos_token_id=0)
    ids = torch.tensor([[1, 1, 5, 6, 7], [8, 9, 10, 11, 12]])  # the first row left-padded
    mask = (ids != 1).long()
    out = {}
    for cache in ("dynamic", "static"):
        cfg = hf_generation_config(GenerationConfig(cache=cache, temperature=1.0, top_k=0, max_new_tokens=12), tok, 3)
        assert (cfg.cache_implementation == "static") == (cache == "static")
        torch.manual_seed(7)
        with torch.no_grad():
            out[cache] = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg, output_logits=True,
                                        return_dict_in_generate=True)
    assert torch.equal(out["dynamic"].sequences, out["static"].sequences)
    for a, b in zip(out["dynamic"].logits, out["static"].logits, strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
