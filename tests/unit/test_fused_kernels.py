"""model.fused_kernels: GPT-2's tanh-GELU as PyTorch's fused kernel and the fused AdamW step give the same numbers
as transformers' python activation and the default optimizer, up to float rounding."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.activations import GELUTanh, NewGELUActivation

from alignlab.config.common import OptimizerConfig
from alignlab.models.loading import fuse_activations
from alignlab.training.optim import build_optimizer


def _gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                                      embd_pdrop=0.0, attn_pdrop=0.0))


def test_fused_gelu_replaces_every_python_gelu_and_keeps_outputs_and_gradients():
    plain, fused = _gpt2(), _gpt2()
    assert fuse_activations(fused) == 2 and fuse_activations(fused) == 0  # one per block; idempotent
    assert not any(type(m) is NewGELUActivation for m in fused.modules())
    assert sum(isinstance(m, GELUTanh) for m in fused.modules()) == 2
    x = torch.randint(0, 97, (3, 11))
    outs = []
    for model in (plain, fused):
        logits = model(input_ids=x).logits
        logits.logsumexp(-1).sum().backward()
        outs.append((logits.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


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
