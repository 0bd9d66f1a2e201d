"""The DPO family: pure per-pair loss functions on sequence log-probs, selected through `PREFERENCE_LOSSES`.

Every function is called as `fn(pc, pr, rc, rr, *, beta, **params) -> (per_pair_loss [B], metrics)`:
- pc, pr: the policy's log-probs of the chosen and rejected reply, [B] (summed over reply tokens, or averaged
  when length normalisation is on); rc, rr: the reference's, [B] (None for reference-free losses);
- params: `label_smoothing`, `alpha`, `gamma`, `orpo_lambda`, `chosen_tokens` and `rejected_tokens` ([B] reply
  lengths); each function takes what it needs and ignores the rest;
- metrics: per-pair "reward_chosen" and "reward_rejected" (the loss's implicit reward), [B].
Notation of study A: h = (pc − pr) − (rc − rr).
Adding a loss is one function here and one entry in `PREFERENCE_LOSSES`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _implicit_rewards(pc, pr, rc, rr, beta) -> dict[str, Tensor]:
    """DPO's implicit reward β·log(π/π_ref) of each reply (Rafailov et al. 2023, eq. 5), detached."""
    return {"reward_chosen": (beta * (pc - rc)).detach(), "reward_rejected": (beta * (pr - rr)).detach()}


def _h(pc, pr, rc, rr) -> Tensor:
    return (pc - pr) - (rc - rr)  # [B]


def dpo_sigmoid(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """DPO: −log σ(β·h) (Rafailov et al. 2023, "Direct Preference Optimization", eq. 7)."""
    return -F.logsigmoid(beta * _h(pc, pr, rc, rr)), _implicit_rewards(pc, pr, rc, rr, beta)


def dpo_conservative(pc, pr, rc, rr, *, beta, label_smoothing=0.0, **_) -> tuple[Tensor, dict]:
    """cDPO: −(1−ε)·log σ(βh) − ε·log σ(−βh), DPO with label smoothing ε (Mitchell 2023, "A note on DPO with
    noisy preferences & relationship to IPO", eq. 3)."""
    z, eps = beta * _h(pc, pr, rc, rr), label_smoothing
    return -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z), _implicit_rewards(pc, pr, rc, rr, beta)


def dpo_robust(pc, pr, rc, rr, *, beta, label_smoothing=0.0, **_) -> tuple[Tensor, dict]:
    """Robust DPO: (−(1−ε)·log σ(βh) + ε·log σ(−βh)) / (1−2ε), unbiased under a label-flip rate ε (Chowdhury
    et al. 2024, "Provably Robust DPO: Aligning Language Models with Noisy Feedback", eq. 5). Note the + sign:
    unlike cDPO it *subtracts* the flipped-label term."""
    z, eps = beta * _h(pc, pr, rc, rr), label_smoothing
    loss = (-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)
    return loss, _implicit_rewards(pc, pr, rc, rr, beta)


def slic_hinge(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """SLiC-HF hinge: relu(1 − β·h) (Zhao et al. 2023, "SLiC-HF: Sequence Likelihood Calibration with Human
    Feedback", eq. 1, with the reference-normalised margin used by study A)."""
    return F.relu(1 - beta * _h(pc, pr, rc, rr)), _implicit_rewards(pc, pr, rc, rr, beta)


def ipo(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """IPO: (h − 1/(2β))² (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning from Human
    Preferences", eq. 17). Whether h uses summed or per-token-average log-probs is the caller's choice
    (`loss.length_normalize`)."""
    return (_h(pc, pr, rc, rr) - 1 / (2 * beta)) ** 2, _implicit_rewards(pc, pr, rc, rr, beta)


def fdpo_forward_kl(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """f-DPO, forward KL: z = exp(rr−pr) − exp(rc−pc), loss −log σ(β·z) (Wang et al. 2023, "Beyond Reverse KL:
    Generalizing DPO with Diverse Divergence Constraints", eq. 10 with f'(u) = −1/u)."""
    z = torch.exp(rr - pr) - torch.exp(rc - pc)
    return -F.logsigmoid(beta * z), _implicit_rewards(pc, pr, rc, rr, beta)


def fdpo_jensen_shannon(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """f-DPO, Jensen–Shannon: z = (pc−pr) − logaddexp(pc, rc) + logaddexp(pr, rr), loss −log σ(β·z) (Wang et
    al. 2023, eq. 10 with f'(u) = log(2u/(1+u)); the log 2 cancels)."""
    z = (pc - pr) - torch.logaddexp(pc, rc) + torch.logaddexp(pr, rr)
    return -F.logsigmoid(beta * z), _implicit_rewards(pc, pr, rc, rr, beta)


def fdpo_alpha(pc, pr, rc, rr, *, beta, alpha=0.5, **_) -> tuple[Tensor, dict]:
    """f-DPO, α-divergence: z = exp(α(rr−pr)) − exp(α(rc−pc)), loss −log σ((β/α)·z) (Wang et al. 2023, eq. 10
    with f'(u) = (1 − u^(−α))/α: α→0 is reverse KL, i.e. DPO; α=1 is forward KL)."""
    z = torch.exp(alpha * (rr - pr)) - torch.exp(alpha * (rc - pc))
    return -F.logsigmoid(beta / alpha * z), _implicit_rewards(pc, pr, rc, rr, beta)


def kto_paired(pc, pr, rc, rr, *, beta, **_) -> tuple[Tensor, dict]:
    """Paired KTO (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization", eq. 8,
    in the paired form study A used): KLc = mean(pc−rc)⁺, KLr = mean(pr−rr)⁺ over the batch;
    per pair ½·[(1 − σ(β((pc−rc) − KLr))) + (1 − σ(β(KLc − (pr−rr))))], whose mean is the mean of the
    study's concatenation of the two halves.

    The batch KLs are reference points, not targets: they are detached, as in the KTO paper (§4.1: "we do not
    back-propagate through z_ref") and TRL's KTOTrainer, so no gradient pushes the batch's log-ratios towards
    them; only the per-pair ratios get a gradient."""
    chosen_ratio, rejected_ratio = pc - rc, pr - rr  # [B]
    kl_chosen = chosen_ratio.detach().mean().clamp(min=0)  # []
    kl_rejected = rejected_ratio.detach().mean().clamp(min=0)  # []
    loss = (1 - torch.sigmoid(beta * (chosen_ratio - kl_rejected))) + (1 - torch.sigmoid(beta * (kl_chosen - rejected_ratio)))
    return loss / 2, _implicit_rewards(pc, pr, rc, rr, beta)


def simpo(pc, pr, rc=None, rr=None, *, beta, gamma=0.5, chosen_tokens, rejected_tokens, **_) -> tuple[Tensor, dict]:
    """SimPO: −log σ(β·(pc/|yc| − pr/|yr|) − γ), reference-free and length-normalised (Meng et al. 2024,
    "SimPO: Simple Preference Optimization with a Reference-Free Reward", eq. 6). Rewards: β·p/|y|."""
    reward_c, reward_r = beta * pc / chosen_tokens, beta * pr / rejected_tokens  # [B]
    return -F.logsigmoid(reward_c - reward_r - gamma), {"reward_chosen": reward_c.detach(),
                                                          "reward_rejected": reward_r.detach()}


def _log_odds(avg_logp: Tensor) -> Tensor:
    # log(p / (1 − p)) with p = exp(avg log-prob) < 1; the clamp keeps log1p finite when p rounds to 1
    return avg_logp - torch.log1p(-torch.exp(avg_logp.clamp(max=-1e-6)))


def orpo(pc, pr, rc=None, rr=None, *, beta, orpo_lambda=0.1, chosen_tokens, rejected_tokens, **_
         ) -> tuple[Tensor, dict]:
    """ORPO: −pc/|yc| − λ·log σ(log odds(yc) − log odds(yr)), with odds(y) = P/(1−P), P = exp(p/|y|)
    (Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model", eqs. 4–7).
    Reference-free; β only scales the reported rewards β·p/|y|."""
    avg_c, avg_r = pc / chosen_tokens, pr / rejected_tokens  # [B]
    loss = -avg_c - orpo_lambda * F.logsigmoid(_log_odds(avg_c) - _log_odds(avg_r))
    return loss, {"reward_chosen": (beta * avg_c).detach(), "reward_rejected": (beta * avg_r).detach()}


def pair_accuracy(margin: Tensor) -> Tensor:
    """Per pair [B]: 1 where the chosen reply scores higher (margin > 0), ½ on an exact tie, 0 otherwise. The one
    rule of every pair accuracy (DPO's implicit reward in training, the reward model, `alignlab eval`'s held-out
    pairs): a score that cannot tell two replies apart is at chance, 0.5, not wrong."""
    return (margin > 0).float() + 0.5 * (margin == 0).float()


PREFERENCE_LOSSES = {
    "sigmoid": dpo_sigmoid,
    "cdpo": dpo_conservative,
    "robust": dpo_robust,
    "hinge": slic_hinge,
    "ipo": ipo,
    "fkl": fdpo_forward_kl,
    "jsd": fdpo_jensen_shannon,
    "alpha": fdpo_alpha,
    "kto_pair": kto_paired,
    "simpo": simpo,
    "orpo": orpo,
}
"""loss.name → per-pair loss function."""

LENGTH_NORMALIZED_BY_DEFAULT = {"ipo"}
"""Losses whose h uses per-token average log-probs unless `loss.length_normalize` says otherwise."""
REFERENCE_FREE = {"simpo", "orpo"}
"""Losses that need no reference model (ref.mode none); they are length-normalised by their own definition."""


def register_preference_loss(name: str, fn, *, reference_free: bool = False, length_normalized: bool = False):
    """Add a DPO-family loss (a plug-in's entry point): `train dpo loss.name=NAME` then uses `fn`, which has the
    signature of the module docstring. reference_free: it reads no reference log-probs (rc, rr are None);
    length_normalized: its h uses per-token average log-probs by default."""
    if name in PREFERENCE_LOSSES and PREFERENCE_LOSSES[name] is not fn:
        raise ValueError(f"preference loss '{name}' is already registered")
    PREFERENCE_LOSSES[name] = fn
    if reference_free:
        REFERENCE_FREE.add(name)
    if length_normalized:
        LENGTH_NORMALIZED_BY_DEFAULT.add(name)
    return fn
