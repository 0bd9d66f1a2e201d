"""Online-RL building blocks against hand-computed values: KL estimators, advantage estimators (incl. a
hand-unrolled 3-step GAE), whitening, and the PPO clipped objective inside and outside the clip range."""

from __future__ import annotations

import math

import pytest
import torch

from alignlab.algorithms.advantages import ADVANTAGES, whiten
from alignlab.losses.kl import KL_ESTIMATORS
from alignlab.losses.policy_gradient import clipped_value_loss, ppo_clip_loss, reinforce_loss


def test_kl_estimators_by_hand():
    pi, ref = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -1.0]])  # log r = ref − pi = [−0.5, 1.0]
    torch.testing.assert_close(KL_ESTIMATORS["k1"](pi, ref), torch.tensor([[0.5, -1.0]]))
    torch.testing.assert_close(KL_ESTIMATORS["k2"](pi, ref), torch.tensor([[0.125, 0.5]]))
    # k3 = e^{log r} − 1 − log r: e^−0.5 − 1 + 0.5 = 0.106531 ; e − 1 − 1 = 0.718282
    torch.testing.assert_close(KL_ESTIMATORS["k3"](pi, ref), torch.tensor([[0.106531, 0.718282]]), atol=1e-6, rtol=0)


def test_k3_is_nonnegative_and_zero_for_equal_policies():
    g = torch.Generator().manual_seed(0)
    pi, ref = -torch.rand(64, 9, generator=g) * 5, -torch.rand(64, 9, generator=g) * 5
    assert (KL_ESTIMATORS["k3"](pi, ref) >= 0).all() and (KL_ESTIMATORS["k2"](pi, ref) >= 0).all()
    for name in KL_ESTIMATORS:
        assert torch.equal(KL_ESTIMATORS[name](pi, pi), torch.zeros_like(pi))


# Two prompts × k = 3 samples; one reply token each (reward on it), so R = reward.
R = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])
MASK = torch.ones(6, 1)


def test_sequence_advantages_by_hand():
    rewards = R[:, None]
    # reinforce: R − b with b = 2
    torch.testing.assert_close(ADVANTAGES["reinforce"](rewards, MASK, baseline=2.0)[:, 0],
                               torch.tensor([-1.0, 0.0, 4.0, -2.0, -2.0, 1.0]))
    # rloo: 1 − (2+6)/2 = −3 ; 2 − (1+6)/2 = −1.5 ; 6 − (1+2)/2 = 4.5 ; 0 − 1.5 ; 0 − 1.5 ; 3 − 0
    torch.testing.assert_close(ADVANTAGES["rloo"](rewards, MASK, k=3)[:, 0],
                               torch.tensor([-3.0, -1.5, 4.5, -1.5, -1.5, 3.0]))
    # grpo: group 1 mean 3, sample std √((4+1+9)/2) = √7 ; group 2 mean 1, std √((1+1+4)/2) = √3
    s7, s3 = math.sqrt(7), math.sqrt(3)
    torch.testing.assert_close(ADVANTAGES["grpo"](rewards, MASK, k=3, eps=0.0)[:, 0],
                               torch.tensor([-2 / s7, -1 / s7, 3 / s7, -1 / s3, -1 / s3, 2 / s3]))


def test_sequence_advantages_cover_every_reply_token_only():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 3.0, 0.0, 0.0]])  # reward on each reply's last token
    mask = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float32)
    adv = ADVANTAGES["rloo"](rewards, mask, k=2)  # R = [1, 3] → A = [−2, 2]
    assert adv.tolist() == [[0.0, -2.0, -2.0, 0.0], [2.0, 2.0, 0.0, 0.0]]


def test_gae_hand_unrolled_three_steps():
    """r = [0, 0, 1], V = [0.5, 0.6, 0.7], γ = 0.9, λ = 0.8, V after the last token = 0.
    δ2 = 1 − 0.7 = 0.3 ; A2 = 0.3
    δ1 = 0 + 0.9·0.7 − 0.6 = 0.03 ; A1 = 0.03 + 0.72·0.3 = 0.246
    δ0 = 0 + 0.9·0.6 − 0.5 = 0.04 ; A0 = 0.04 + 0.72·0.246 = 0.21712"""
    rewards, values = torch.tensor([[0.0, 0.0, 1.0, 0.0]]), torch.tensor([[0.5, 0.6, 0.7, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the 4th position is padding: its value must not leak in
    adv = ADVANTAGES["gae"](rewards, mask, values=values, gamma=0.9, lam=0.8)
    torch.testing.assert_close(adv, torch.tensor([[0.21712, 0.246, 0.3, 0.0]]), atol=1e-6, rtol=0)


def test_whiten_masked():
    adv, mask = torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(whiten(adv, mask, eps=0.0), torch.tensor([[-1.0, 1.0, 0.0]]))


def test_ppo_clip_inside_and_outside_the_range():
    old = torch.zeros(1, 4)
    # ratios e^{0.1} ≈ 1.105 (inside), e^{0.5} ≈ 1.649 (outside, A > 0 → clipped at 1.2),
    # e^{−0.5} ≈ 0.607 (outside, A < 0 → clipped at 0.8), e^{0.5} with A < 0 (min picks the unclipped 1.649·A)
    logps = torch.tensor([[0.1, 0.5, -0.5, 0.5]], requires_grad=True)
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, m = ppo_clip_loss(logps, old, adv, torch.ones(1, 4), clip=0.2)
    expected = -(math.exp(0.1) * 1 + 1.2 * 1 + 0.8 * -1 + math.exp(0.5) * -1)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    assert m["clipped"].item() == 3
    loss.backward()
    # clipped terms carry no gradient; the others d(−ρA)/dlogp = −ρA
    torch.testing.assert_close(logps.grad, torch.tensor([[-math.exp(0.1), 0.0, 0.0, math.exp(0.5)]]))


def test_clipped_value_loss_and_reinforce_by_hand():
    v, old, ret = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.0]]), torch.tensor([[0.0, 1.0]])
    # token 0: max((1−0)², (0.7−0)²) = 1 ; token 1: max(1, 1) = 1 → ½·2 = 1
    assert clipped_value_loss(v, old, ret, torch.ones(1, 2), clip=0.2)[0].item() == pytest.approx(1.0)
    logps = torch.tensor([[-1.0, -2.0]])
    assert reinforce_loss(logps, torch.tensor([[2.0, 0.5]]), torch.tensor([[1.0, 0.0]]))[0].item() == 2.0


def test_the_config_offers_exactly_the_registered_estimators():
    import typing

    from alignlab.algorithms.advantages import GROUPED, MOVING_BASELINE, NEEDS_VALUES
    from alignlab.config.online import AdvantageConfig

    offered = set(typing.get_args(typing.get_args(AdvantageConfig.model_fields["estimator"].annotation)[0]))
    assert offered == set(ADVANTAGES) and (GROUPED | MOVING_BASELINE | NEEDS_VALUES) <= offered
