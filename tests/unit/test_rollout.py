"""The HF rollout engine: left padding, reply masks that stop at EOS, behaviour log-probs, distinct samples."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from alignlab.algorithms.logprobs import token_logps
from alignlab.config.common import GenerationConfig
from alignlab.data.tokenizer import train_bpe
from alignlab.rollout import HFRolloutEngine
from alignlab.rollout.engine import _until_first_stop


@pytest.fixture(scope="module")
def policy():
    tok = train_bpe(["the film was good and the plot was bad, a fine cast"] * 30, 300)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    return model, tok


def test_until_first_stop():
    reply = torch.tensor([[5, 6, 1, 7, 1], [5, 5, 5, 5, 5], [1, 4, 4, 4, 4]])
    assert _until_first_stop(reply, 1).int().tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_rollout_tensors_and_distinct_samples(policy):
    model, tok = policy
    engine = HFRolloutEngine(model, tok, GenerationConfig(max_new_tokens=8, temperature=1.0, top_k=0, batch_size=1))
    roll = engine.generate(["the film", "a fine cast was good"], k=4, seed=0)
    n, t = roll.input_ids.shape
    assert n == 8 and roll.logps.shape == (8, t - 1) and len(roll.texts) == 8
    first = roll.attention_mask.argmax(-1)  # first real token of each row
    assert (roll.response_mask.sum(-1) >= 1).all() and (roll.lengths <= 8).all()
    assert (first[:4] > first[4:]).all()  # the shorter prompt is left-padded more
    # no reply token after the first EOS, and pads are outside the attention mask
    for row in range(n):
        reply = roll.input_ids[row][roll.response_mask[row].bool()].tolist()
        assert tok.eos_token_id not in reply[:-1]
    # behaviour log-probs equal the shared log-prob function on the same tensors, zero off the replies
    expected, select = token_logps(model.eval(), roll.input_ids, roll.attention_mask, roll.response_mask)
    torch.testing.assert_close(roll.logps, expected)
    assert (roll.logps[~select] == 0).all() and (roll.logps[select] < 0).all()
    # k samples of one prompt differ at step 0
    assert len(set(roll.texts[:4])) > 1 and len(set(roll.texts[4:])) > 1


def test_greedy_rollouts_are_refused(policy):
    model, tok = policy
    with pytest.raises(ValueError, match="must sample"):
        HFRolloutEngine(model, tok, GenerationConfig(do_sample=False))


@pytest.mark.parametrize("sampling", [{"temperature": 1.0, "top_k": 0}, {"temperature": 0.7, "top_k": 5,
                                                                         "repetition_penalty": 1.3}])
def test_behaviour_logps_from_generation_equal_a_second_forward(policy, sampling):
    """Generation's own unprocessed logits give the policy's log-probs and entropies of the sampled tokens (also
    when temperature, top-k or a penalty shape the sampling): the same as the full forward they replace."""
    model, tok = policy
    cfg = GenerationConfig(max_new_tokens=10, batch_size=2, **sampling)
    ours = HFRolloutEngine(model, tok, cfg).generate(["the film", "a fine cast was good", "bad"], k=3, seed=1)
    forward = HFRolloutEngine(model, tok, cfg.model_copy(update={"logps_from_generation": False})).generate(
        ["the film", "a fine cast was good", "bad"], k=3, seed=1)
    assert torch.equal(ours.input_ids, forward.input_ids) and torch.equal(ours.response_mask, forward.response_mask)
    torch.testing.assert_close(ours.logps, forward.logps, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.entropy, forward.entropy, atol=1e-5, rtol=0)
    assert (ours.logps[~ours.token_mask] == 0).all() and (ours.entropy[ours.token_mask] > 0).all()
