"""The DPO-family losses against values worked out by hand, and the direction of their gradients.

Table (β = 0.5, ε = 0.1, α = 0.5):
  row 1: pc=-1, pr=-2, rc=-1.5, rr=-1.5  → h = (pc−pr) − (rc−rr) = 1,  βh = 0.5
  row 2: pc=-3, pr=-1, rc=-2,   rr=-2    → h = −2,                   βh = −1
e.g. sigmoid row 1 = log(1 + e^−0.5) = 0.474077; hinge row 2 = relu(1 − (−1)) = 2; ipo row 2 = (−2 − 1)² = 9;
jsd row 1: z = 1 − logaddexp(−1, −1.5) + logaddexp(−2, −1.5) = 1 − (−0.525923) + (−1.025923) = 0.5 → log(1+e^−0.25).
"""

from __future__ import annotations

import pytest
import torch

from alignlab.losses.preference import PREFERENCE_LOSSES

PC, PR = torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0])
RC, RR = torch.tensor([-1.5, -2.0]), torch.tensor([-1.5, -2.0])
PARAMS = dict(beta=0.5, label_smoothing=0.1, alpha=0.5, gamma=0.5, orpo_lambda=0.1,
              chosen_tokens=torch.tensor([2.0, 4.0]), rejected_tokens=torch.tensor([4.0, 2.0]))

EXPECTED = {
    "sigmoid": [0.474077, 1.313262],   # −log σ(βh)
    "cdpo": [0.524077, 1.213262],      # 0.9·0.474077 + 0.1·0.974077 ; 0.9·1.313262 + 0.1·0.313262
    "robust": [0.411577, 1.438262],    # (0.9·0.474077 − 0.1·0.974077)/0.8 ; (0.9·1.313262 − 0.1·0.313262)/0.8
    "hinge": [0.5, 2.0],               # relu(1 − βh)
    "ipo": [0.0, 9.0],                 # (h − 1/(2β))² = (1 − 1)², (−2 − 1)²
    "jsd": [0.575939, 0.974077],       # z = 0.5, −1 (the log-sum terms cancel to these)
    "fkl": [0.466165, 1.444279],       # z = e^0.5 − e^−0.5 = 1.042191 ; z = e^−1 − e^1 = −2.350402
    "alpha": [0.472108, 1.344279],     # (β/α)·(e^{α(rr−pr)} − e^{α(rc−pc)})
    # batch KLs: mean(pc−rc) = −0.25 → KLc = 0; mean(pr−rr) = 0.25 → KLr = 0.25
    # row 1: ½[(1 − σ(0.5·(0.5 − 0.25))) + (1 − σ(0.5·(0 + 0.5)))] = ½[0.468791 + 0.437823]
    "kto_pair": [0.453307, 0.636907],
    # −log σ(β(pc/|yc| − pr/|yr|) − γ): row 1 β(−0.5 + 0.5) − 0.5 = −0.5 → 0.974077
    "simpo": [0.974077, 1.053701],
    # −pc/|yc| − λ log σ(logodds(pc/|yc|) − logodds(pr/|yr|)), logodds(a) = a − log(1 − e^a)
    "orpo": [0.569315, 0.850131],
}


def test_every_registered_loss_has_a_hand_computed_row():
    assert set(PREFERENCE_LOSSES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_matches_hand_computed_values(name):
    loss, metrics = PREFERENCE_LOSSES[name](PC, PR, RC, RR, **PARAMS)
    assert loss.shape == (2,)
    torch.testing.assert_close(loss, torch.tensor(EXPECTED[name]), atol=1e-5, rtol=0)
    assert metrics["reward_chosen"].shape == metrics["reward_rejected"].shape == (2,)


def test_implicit_rewards_are_beta_times_log_ratio():
    _, m = PREFERENCE_LOSSES["sigmoid"](PC, PR, RC, RR, **PARAMS)
    torch.testing.assert_close(m["reward_chosen"], torch.tensor([0.25, -0.5]))   # 0.5·(−1 + 1.5), 0.5·(−3 + 2)
    torch.testing.assert_close(m["reward_rejected"], torch.tensor([-0.25, 0.5]))


def test_robust_and_conservative_differ_in_the_flipped_term():
    cdpo = PREFERENCE_LOSSES["cdpo"](PC, PR, RC, RR, **PARAMS)[0]
    robust = PREFERENCE_LOSSES["robust"](PC, PR, RC, RR, **PARAMS)[0]
    assert not torch.allclose(cdpo, robust)
    zero = PARAMS | {"label_smoothing": 0.0}
    for name in ("cdpo", "robust"):  # ε = 0 is plain DPO
        torch.testing.assert_close(PREFERENCE_LOSSES[name](PC, PR, RC, RR, **zero)[0],
                                   PREFERENCE_LOSSES["sigmoid"](PC, PR, RC, RR, **zero)[0])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gradient_raises_chosen_relative_to_rejected(name):
    """At h = 0 (policy = reference), descending the loss must raise log π(chosen) and lower log π(rejected)."""
    pc, pr = torch.tensor([-2.0, -3.0], requires_grad=True), torch.tensor([-2.0, -3.0], requires_grad=True)
    ref = torch.tensor([-2.0, -3.0])
    loss, _ = PREFERENCE_LOSSES[name](pc, pr, ref, ref, **PARAMS)
    loss.sum().backward()
    assert (pc.grad < 0).all(), f"{name}: chosen log-prob gradient {pc.grad}"
    assert (pr.grad > 0).all(), f"{name}: rejected log-prob gradient {pr.grad}"


def test_alpha_divergence_limits():
    """α → 0 recovers DPO (reverse KL); α = 1 is the forward-KL loss with the same β."""
    small = PREFERENCE_LOSSES["alpha"](PC, PR, RC, RR, **(PARAMS | {"alpha": 1e-4}))[0]
    torch.testing.assert_close(small, PREFERENCE_LOSSES["sigmoid"](PC, PR, RC, RR, **PARAMS)[0], atol=1e-3, rtol=0)
    one = PREFERENCE_LOSSES["alpha"](PC, PR, RC, RR, **(PARAMS | {"alpha": 1.0}))[0]
    torch.testing.assert_close(one, PREFERENCE_LOSSES["fkl"](PC, PR, RC, RR, **PARAMS)[0])


def test_kto_batch_kl_reference_points_carry_no_gradient():
    # The gradient of the paired KTO loss must equal the one with KLc, KLr as constants (detached, as in the KTO
    # paper and TRL): pc only enters through its own ratio pc − rc.
    from alignlab.losses.preference import kto_paired

    pc, pr = PC.clone().requires_grad_(True), PR.clone().requires_grad_(True)
    kto_paired(pc, pr, RC, RR, beta=0.5)[0].sum().backward()
    kl_c, kl_r = (PC - RC).mean().clamp(min=0), (PR - RR).mean().clamp(min=0)  # constants: 0 and 0.25
    qc, qr = PC.clone().requires_grad_(True), PR.clone().requires_grad_(True)
    ((1 - torch.sigmoid(0.5 * ((qc - RC) - kl_r))) + (1 - torch.sigmoid(0.5 * (kl_c - (qr - RR))))).div(2).sum().backward()
    torch.testing.assert_close(pc.grad, qc.grad)
    torch.testing.assert_close(pr.grad, qr.grad)  # KLr = 0.25 > 0: without the detach, pr's gradient differs


def test_pair_accuracy_counts_a_tie_half():
    from alignlab.algorithms.dpo import pair_accuracy
    from alignlab.losses.reward import bradley_terry

    torch.testing.assert_close(pair_accuracy(torch.tensor([0.3, 0.0, -0.1])), torch.tensor([1.0, 0.5, 0.0]))
    _, m = bradley_terry(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]))
    assert float(m["correct"]) == 1.5  # one tie (½) + one right (1)
