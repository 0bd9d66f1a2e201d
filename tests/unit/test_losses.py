import math

import torch

from alignlab.losses.sft import IGNORE, causal_lm_nll


def test_causal_lm_nll_by_hand():
    # Vocabulary of 2. Position 0 predicts labels[1]; position 1 predicts labels[2] (masked); pos 2 is last.
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]]])
    labels = torch.tensor([[IGNORE, 1, IGNORE]])
    loss, m = causal_lm_nll(logits, labels)
    assert m["tokens"].item() == 1
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6)  # uniform over 2 tokens: -log(1/2)

    labels = torch.tensor([[IGNORE, 1, 0]])
    loss, m = causal_lm_nll(logits, labels)
    # -log(1/2) - log(e^2 / (e^2 + 1))
    expected = math.log(2) + math.log(1 + math.exp(-2))
    assert m["tokens"].item() == 2 and math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_label_smoothing_by_hand():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[IGNORE, 0]])
    loss, _ = causal_lm_nll(logits, labels, label_smoothing=0.2)
    logp0, logp1 = -math.log(1 + math.exp(-2)), -math.log(1 + math.exp(2))
    expected = -(0.9 * logp0 + 0.1 * logp1)  # (1-ε) on target + ε/V on every class, V=2
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_bradley_terry_by_hand():
    from alignlab.losses.reward import bradley_terry

    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    loss, m = bradley_terry(chosen, rejected)
    # −log σ(1) − log σ(−1) = log(1 + e^−1) + log(1 + e^1)
    assert math.isclose(loss.item(), math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1)), rel_tol=1e-6)
    assert m["correct"].item() == 1 and math.isclose(m["margin"].item(), 0.0, abs_tol=1e-7)
    # A margin m = 0.5 asks for r_c − r_r ≥ 0.5: −log σ(0.5) − log σ(−1.5)
    loss, _ = bradley_terry(chosen, rejected, margin=0.5)
    assert math.isclose(loss.item(), math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(1.5)), rel_tol=1e-6)
    loss, _ = bradley_terry(chosen, rejected, margin=torch.tensor([1.0, 0.0]))  # per-pair margins
    assert math.isclose(loss.item(), math.log(2) + math.log(1 + math.exp(1)), rel_tol=1e-6)


def test_token_nll_by_hand():
    """The same V=2 case as above from per-token inputs: −[(1−ε) log p(y) + ε·(log p0 + log p1)/2]."""
    from alignlab.losses.sft import token_nll

    logp0, logp1 = -math.log(1 + math.exp(-2)), -math.log(1 + math.exp(2))
    logps, mean = torch.tensor([[logp0, 0.0]]), torch.tensor([[(logp0 + logp1) / 2, 0.0]])  # 2nd position: no loss
    assert math.isclose(token_nll(logps).item(), -logp0, rel_tol=1e-6)
    assert math.isclose(token_nll(logps, mean, 0.2).item(), -(0.9 * logp0 + 0.1 * logp1), rel_tol=1e-6)
