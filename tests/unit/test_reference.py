"""Reference strategies agree at step 0; the precomputed cache is hit on a second run and missed after a change."""

from __future__ import annotations

import copy

import pytest
import torch
from accelerate import Accelerator
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from alignlab.algorithms.dpo import PreferenceOptimisation, beta_at
from alignlab.algorithms.reference import AdapterOff, FrozenCopy, NamedAdapter, PolicyAtStart
from alignlab.config.offline import BetaConfig, LossConfig
from alignlab.data.batching import preference_collate
from alignlab.data.tokenizer import train_bpe
from alignlab.training.reference_cache import (
    ReferenceCache,
    attach,
    cache_key,
    cached_reference,
    compute_reference,
    reference_identity,
)

PAIRS = [
    {"chosen_ids": [5, 6, 7, 8, 9], "chosen_mask": [0, 0, 1, 1, 1],
     "rejected_ids": [5, 6, 11, 12, 13, 14, 15], "rejected_mask": [0, 0, 1, 1, 1, 1, 1]},
    {"chosen_ids": [3, 4, 7], "chosen_mask": [0, 1, 1], "rejected_ids": [3, 16], "rejected_mask": [0, 1]},
    {"chosen_ids": [3, 4, 9, 9], "chosen_mask": [0, 1, 1, 1], "rejected_ids": [3, 4, 20], "rejected_mask": [0, 1, 1]},
]
LORA = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["c_attn", "c_fc"], task_type="CAUSAL_LM")


def _gpt2(seed=0):
    torch.manual_seed(seed)
    # No dropout, as `train dpo` sets by default (model.disable_dropout): policy and reference agree at step 0.
    return GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def _precomputed_batch(policy, strategy, examples):
    examples = copy.deepcopy(examples)
    chosen, rejected = compute_reference(strategy, policy, examples, preference_collate(0), 2, Accelerator(cpu=True),
                                         1024, "reference", progress=False)
    attach(examples, chosen, rejected)
    return preference_collate(0)(examples)


def test_beta_schedules():
    assert beta_at(7, 10, BetaConfig(value=0.3)) == 0.3
    linear = BetaConfig(schedule="linear", start=1.0, end=0.01)
    assert [round(beta_at(s, 4, linear), 4) for s in range(4)] == [1.0, 0.67, 0.34, 0.01]
    cosine = BetaConfig(schedule="cosine", start=0.0, end=1.0)
    assert [round(beta_at(s, 3, cosine), 4) for s in range(3)] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="beta.start and beta.end"):
        BetaConfig(schedule="linear", start=0.0)


def test_three_reference_modes_give_the_same_step0_loss():
    algo = PreferenceOptimisation(LossConfig(), BetaConfig(value=0.1))
    batch = preference_collate(0)(PAIRS)
    full = _gpt2()
    algo.reference = FrozenCopy(copy.deepcopy(full))
    loss_copy = algo.pair_losses(full, batch)[0]
    lora = get_peft_model(copy.deepcopy(full), LoraConfig(**LORA))
    algo.reference = AdapterOff()
    loss_adapter = algo.pair_losses(lora, batch)[0]
    algo.reference = None
    loss_pre = algo.pair_losses(full, _precomputed_batch(full, PolicyAtStart(), PAIRS))[0]
    log2 = torch.full((3,), 0.693147)  # policy = reference: h = 0, −log σ(0) = log 2
    for loss in (loss_copy, loss_adapter, loss_pre):
        torch.testing.assert_close(loss.detach(), log2, atol=1e-5, rtol=0)
    assert algo.reference_passes == 2  # copy and adapter computed on the fly; precomputed read the batch


def test_named_reference_adapter_is_the_sft_adapter_loaded_twice(tmp_path):
    """Study D: the trained adapter is the policy and, frozen, the reference — no second base model."""
    sft = get_peft_model(_gpt2(), LoraConfig(**LORA))
    with torch.no_grad():
        for name, p in sft.named_parameters():
            if "lora_" in name:
                p.add_(0.05 * torch.randn_like(p))
    sft.save_pretrained(tmp_path / "sft")
    policy = PeftModel.from_pretrained(_gpt2(), tmp_path / "sft", is_trainable=True)
    policy.load_adapter(tmp_path / "sft", adapter_name="reference", is_trainable=False)
    algo = PreferenceOptimisation(LossConfig(), BetaConfig(value=0.1), NamedAdapter("reference"))
    loss, _ = algo.pair_losses(policy, preference_collate(0)(PAIRS))
    torch.testing.assert_close(loss.detach(), torch.full((3,), 0.693147), atol=1e-5, rtol=0)
    loss.sum().backward()
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable and all(".default." in n for n in trainable)  # the switch left only the policy trainable
    assert all(p.grad is None for n, p in policy.named_parameters() if ".reference." in n)
    # The reference differs from the adapters-off base: it is the SFT adapter, as intended.
    base_loss = PreferenceOptimisation(LossConfig(), BetaConfig(value=0.1), AdapterOff()).pair_losses(
        policy, preference_collate(0)(PAIRS))[0]
    assert not torch.allclose(base_loss.detach(), loss.detach())


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(["a small corpus of film review words, good and bad"] * 20, 300)


def test_cache_hit_on_second_run_and_miss_after_changes(tmp_path, tokenizer):
    acc, model, cache = Accelerator(cpu=True), _gpt2(), ReferenceCache(tmp_path)
    settings = {"max_length": 64, "max_prompt_length": None, "template": None}
    calls = []

    def run(model, examples, strategy=PolicyAtStart()):
        key = cache_key(reference_identity(strategy, model, tokenizer, settings), examples)

        def compute():
            calls.append(key)
            return compute_reference(strategy, model, examples, preference_collate(0), 2, acc, 1024, "ref", False)
        return key, cached_reference(cache, key, compute, len(examples), acc, {})

    key, (c1, r1, info1) = run(model, PAIRS)
    _, (c2, r2, info2) = run(model, copy.deepcopy(PAIRS))
    assert not info1["hit"] and info2["hit"] and len(calls) == 1
    torch.testing.assert_close((c1, r1), (c2, r2))
    changed = copy.deepcopy(PAIRS)
    changed[2]["rejected_ids"][-1] = 21  # one token of the dataset
    assert not run(model, changed)[1][2]["hit"]
    other = _gpt2()
    with torch.no_grad():
        other.transformer.h[1].mlp.c_fc.weight[0, 0] += 1e-3  # one weight of the reference
    assert not run(other, PAIRS)[1][2]["hit"]
    # The same base weights wrapped in fresh LoRA adapters (off for the reference) share the entry.
    lora = get_peft_model(copy.deepcopy(model), LoraConfig(**LORA))
    assert run(lora, PAIRS, AdapterOff())[0] == key
    assert len(calls) == 3
