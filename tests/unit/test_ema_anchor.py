"""ref.mode=ema: the anchor moves by exactly μ towards the policy after each update (study B's anchor never
moved), only the trainable tensors move (LoRA: the adapters), and its state survives a checkpoint."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from alignlab.algorithms.reference import EMAAnchor


def test_anchor_moves_by_mu_after_each_update_by_hand():
    policy = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        policy.weight.copy_(torch.tensor([[1.0, 2.0]]))
    anchor = EMAAnchor(policy, mu=0.25)
    with torch.no_grad():
        policy.weight.copy_(torch.tensor([[3.0, 6.0]]))  # an "optimizer step"
    anchor.policy_updated(policy)
    # 0.75·(1, 2) + 0.25·(3, 6) = (1.5, 3.0)
    torch.testing.assert_close(anchor.model.weight, torch.tensor([[1.5, 3.0]]))
    with torch.no_grad():
        policy.weight.copy_(torch.tensor([[5.0, 10.0]]))
    anchor.policy_updated(policy)
    # 0.75·(1.5, 3.0) + 0.25·(5, 10) = (2.375, 4.75)
    torch.testing.assert_close(anchor.model.weight, torch.tensor([[2.375, 4.75]]))
    torch.testing.assert_close(policy.weight, torch.tensor([[5.0, 10.0]]))  # the policy is untouched


def test_anchor_is_a_copy_that_does_not_follow_without_an_update():
    policy = torch.nn.Linear(2, 1)
    anchor = EMAAnchor(policy, mu=0.5)
    before = anchor.model.weight.detach().clone()
    with torch.no_grad():
        policy.weight.add_(1.0)
    torch.testing.assert_close(anchor.model.weight, before)  # no aliasing: only policy_updated moves it
    assert not any(p.requires_grad for p in anchor.model.parameters())
    with anchor.running(policy) as model:
        assert model is anchor.model and not model.training


def test_under_lora_only_the_adapters_move():
    torch.manual_seed(0)
    base = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    policy = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"], lora_dropout=0.0))
    anchor = EMAAnchor(policy, mu=0.5)
    assert anchor.moving and all("lora_" in n for n in anchor.moving)
    name = next(n for n in anchor.moving if "lora_B" in n)
    live = dict(policy.named_parameters())[name]
    with torch.no_grad():
        live.fill_(2.0)  # lora_B starts at 0
    anchor.policy_updated(policy)
    torch.testing.assert_close(dict(anchor.model.named_parameters())[name], torch.full_like(live, 1.0))


def test_checkpoint_state_round_trip_and_mismatch():
    policy = torch.nn.Linear(2, 1)
    anchor = EMAAnchor(policy, mu=0.1)
    state = {k: v + 1 for k, v in anchor.checkpoint_state().items()}
    fresh = EMAAnchor(policy, mu=0.1)
    fresh.load_checkpoint_state(state)
    torch.testing.assert_close(fresh.model.weight, policy.weight + 1)
    with pytest.raises(ValueError, match="does not match"):
        fresh.load_checkpoint_state({"other": torch.zeros(1)})
