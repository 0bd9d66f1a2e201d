"""model.fused_kernels and model.onednn_linear: GPT-2's tanh-GELU as PyTorch's fused kernel, the fused AdamW step
and linear layers on oneDNN give the same numbers as transformers' python activation, the default optimizer and
F.linear, up to float rounding."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.activations import GELUTanh, NewGELUActivation

from alignlab.config.common import OptimizerConfig
from alignlab.models.kernels import (
    BUCKETS_PER_OCTAVE,
    ROW_BUCKET,
    OneDNNLinear,
    fuse_activations,
    linear,
    onednn_available,
    route_linear_to_onednn,
    row_bucket,
)
from alignlab.training.optim import build_optimizer


def _gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                                      embd_pdrop=0.0, attn_pdrop=0.0))


def _assert_same_logits_and_gradients(reference, other, x: torch.Tensor) -> None:
    """Logits and every parameter's gradient of logsumexp(logits).sum() agree up to float rounding."""
    outs = []
    for model in (reference, other):
        logits = model(input_ids=x).logits
        logits.logsumexp(-1).sum().backward()
        outs.append((logits.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(outs[1][0], outs[0][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_fused_gelu_replaces_every_python_gelu_and_keeps_outputs_and_gradients():
    plain, fused = _gpt2(), _gpt2()
    assert fuse_activations(fused) == 2 and fuse_activations(fused) == 0  # one per block; idempotent
    assert not any(type(m) is NewGELUActivation for m in fused.modules())
    assert sum(isinstance(m, GELUTanh) for m in fused.modules()) == 2
    _assert_same_logits_and_gradients(plain, fused, torch.randint(0, 97, (3, 11)))


def test_fused_adamw_takes_the_same_steps_as_the_default_one():
    models = [_gpt2(), _gpt2()]
    opts = [build_optimizer(models[0], OptimizerConfig(name="adamw", lr=1e-2, weight_decay=0.1)),
            build_optimizer(models[1], OptimizerConfig(name="adamw", lr=1e-2, weight_decay=0.1), fused=True)]
    assert not opts[0].defaults.get("fused") and opts[1].defaults["fused"] is True
    x = torch.randint(0, 97, (2, 9))
    for _ in range(3):  # the same gradients into both (Adam's g/√v amplifies rounding of near-zero gradients)
        models[0](input_ids=x).logits.logsumexp(-1).sum().backward()
        for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
            q.grad = p.grad.clone()
        for opt in opts:
            opt.step()
            opt.zero_grad()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    sgd = build_optimizer(models[0], OptimizerConfig(name="sgd"), fused=True)  # no fused step: the default one
    assert isinstance(sgd, torch.optim.SGD)


# --------------------------------------------------------------------------- model.onednn_linear

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this PyTorch build has no oneDNN linear op")


@needs_onednn
def test_onednn_linear_gives_f_linear_values_and_all_three_gradients():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16, requires_grad=True)  # 15 rows × 400 outputs: above MIN_ONEDNN_OUTPUTS
    w = torch.randn(400, 16, requires_grad=True)
    b = torch.randn(400, requires_grad=True)
    g = torch.randn(3, 5, 400)
    results = []
    for fn in (torch.nn.functional.linear, OneDNNLinear.apply):
        y = fn(x, w, b)
        y.backward(g)
        results.append((y.detach(), x.grad, w.grad, b.grad))
        x.grad = w.grad = b.grad = None
    for ref, ours in zip(*results, strict=True):
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # hand-computed on a 1×2 · 2×1 product: y = 1·3 + 2·4 + 0.5 = 11.5; ∂x = w, ∂w = x, ∂b = 1
    x1, w1, b1 = (torch.tensor(v, requires_grad=True) for v in ([[1.0, 2.0]], [[3.0, 4.0]], [0.5]))
    y1 = OneDNNLinear.apply(x1, w1, b1)
    y1.sum().backward()
    assert y1.item() == 11.5 and x1.grad.tolist() == [[3.0, 4.0]] and w1.grad.tolist() == [[1.0, 2.0]]
    assert b1.grad.tolist() == [1.0]


def test_row_buckets_by_hand():
    assert [row_bucket(m) for m in (1, 63, 64, 65, 512, 513, 1025, 1153)] == [1, 63, 64, 128, 512, 576, 1152, 1280]


@given(st.integers(1, 1 << 20))
def test_a_row_bucket_holds_its_rows_with_little_padding_and_is_its_own_bucket(m):
    b = row_bucket(m)
    assert m <= b and row_bucket(b) == b
    assert b - m < ROW_BUCKET or (b - m) * BUCKETS_PER_OCTAVE <= m  # under one bucket step or 12.5 %


def test_row_counts_up_to_32k_share_few_buckets():
    assert len({row_bucket(m) for m in range(ROW_BUCKET, 32769)}) <= 64


@needs_onednn
@pytest.mark.parametrize("rows", [70, 600])
def test_onednn_linear_with_padded_rows_gives_f_linear_values_and_gradients(rows):
    torch.manual_seed(0)
    x = torch.randn(rows, 24, requires_grad=True)  # 70 → 128 and 600 → 640 rows inside oneDNN
    w = torch.randn(40, 24, requires_grad=True)
    g = torch.randn(rows, 40)
    results = []
    for fn in (torch.nn.functional.linear, OneDNNLinear.apply):
        y = fn(x, w, None)
        y.backward(g)
        results.append((y.detach(), x.grad, w.grad))
        x.grad = w.grad = None
    assert results[1][0].shape == (rows, 40)
    for ref, ours in zip(*results, strict=True):
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)


@needs_onednn
def test_routed_gpt2_keeps_logits_and_gradients_and_deep_copies_use_their_own_weights():
    plain, routed = _gpt2(), _gpt2()
    # 4 Conv1D per block × 2 blocks + the lm_head Linear
    assert route_linear_to_onednn(routed) == 9 and route_linear_to_onednn(routed) == 0
    x = torch.randint(0, 97, (4, 12))
    _assert_same_logits_and_gradients(plain, routed, x)
    copy = deepcopy(routed)
    with torch.no_grad():
        for p in copy.parameters():
            p.mul_(0.5)
        assert not torch.allclose(copy(input_ids=x).logits, routed(input_ids=x).logits)
        halved = deepcopy(plain)
        for p in halved.parameters():
            p.mul_(0.5)
        torch.testing.assert_close(copy(input_ids=x).logits, halved(input_ids=x).logits, atol=1e-5, rtol=1e-5)


@needs_onednn
def test_lora_on_a_routed_model_trains_its_adapters_and_bf16_takes_the_default_path():
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model

    model = _gpt2()
    route_linear_to_onednn(model)
    peft_model = get_peft_model(model, PeftLora(r=4, target_modules=["c_attn"], fan_in_fan_out=True))
    assert route_linear_to_onednn(peft_model) == 4  # lora_A and lora_B of both blocks; the base stays routed
    peft_model(input_ids=torch.randint(0, 97, (4, 12))).logits.logsumexp(-1).sum().backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    x, w = torch.randn(64, 16, dtype=torch.bfloat16), torch.randn(128, 16, dtype=torch.bfloat16)
    assert torch.equal(linear(x, w, None), torch.nn.functional.linear(x, w, None))
    x1, w1 = torch.randn(1, 16), torch.randn(8, 16)  # one row of a small layer: F.linear itself
    assert torch.equal(linear(x1, w1, None), torch.nn.functional.linear(x1, w1, None))


def test_model_onednn_linear_is_off_by_default_and_routes_every_plain_layer_when_on(tmp_path):
    from alignlab.config.common import ModelConfig
    from alignlab.models.loading import load_model

    _gpt2().save_pretrained(tmp_path)
    off = load_model(ModelConfig(name_or_path=str(tmp_path)))
    assert all("forward" not in vars(m) for m in off.modules())
    on = load_model(ModelConfig(name_or_path=str(tmp_path), onednn_linear=True))
    assert sum("forward" in vars(m) for m in on.modules()) == (9 if onednn_available() else 0)
