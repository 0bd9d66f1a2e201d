"""Advantage estimators of the online loop, selected by name through `ADVANTAGES`.

Uniform call: `fn(rewards [N, T], mask [N, T], *, k, baseline, values, gamma, lam, eps) -> advantages [N, T]`.
`rewards` are per-token (the scorer's reward on the last reply token, plus any per-token KL shaping); rows are
grouped by prompt, k consecutive samples each. Sequence-level estimators (reinforce, rloo, grpo) use the
return R = Σ_t r_t and give every reply token of a sample the same advantage; `gae` is per token.
"""

from __future__ import annotations

import torch


def _returns(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (rewards * mask).sum(-1)  # [N]


def _broadcast(per_sample: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return per_sample[:, None] * mask  # [N, T]


def reinforce_baseline(rewards, mask, *, baseline: float = 0.0, **_) -> torch.Tensor:
    """A = R − b, with b a moving average of past returns kept by the caller (Williams 1992)."""
    return _broadcast(_returns(rewards, mask) - baseline, mask)


def rloo(rewards, mask, *, k: int, **_) -> torch.Tensor:
    """Leave-one-out: A_i = R_i − (1/(k−1)) Σ_{j≠i} R_j over the k samples of a prompt (Kool et al. 2019, "Buy 4
    REINFORCE samples, get a baseline for free!"; Ahmadian et al. 2024, eq. 4)."""
    if k < 2:
        raise ValueError("rloo needs k >= 2 samples per prompt")
    r = _returns(rewards, mask).view(-1, k)  # [P, k]
    return _broadcast(((r - (r.sum(-1, keepdim=True) - r) / (k - 1))).reshape(-1), mask)


def grpo(rewards, mask, *, k: int, eps: float = 1e-4, **_) -> torch.Tensor:
    """Group-normalised: A_i = (R_i − mean_group) / (std_group + ε), sample std over the k samples of a prompt
    (Shao et al. 2024, "DeepSeekMath", eq. 3 / §4.1.2)."""
    r = _returns(rewards, mask).view(-1, k)  # [P, k]
    std = r.std(-1, keepdim=True) if k > 1 else torch.zeros_like(r)
    return _broadcast(((r - r.mean(-1, keepdim=True)) / (std + eps)).reshape(-1), mask)


def gae(rewards, mask, *, values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95, **_) -> torch.Tensor:
    """Generalised advantage estimation over reply tokens: δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1},
    with V = 0 after the last reply token (Schulman et al. 2016, "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation", eq. 16). Returns for the value loss are A + V."""
    # rewards, values, mask: [N, T]; reply tokens are contiguous within a row
    m = mask.float()
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_adv = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv[:, t] = (delta + gamma * lam * next_adv) * m[:, t]
        next_value = torch.where(m[:, t] > 0, values[:, t], next_value)
        next_adv = torch.where(m[:, t] > 0, adv[:, t], next_adv)
    return adv


ADVANTAGES = {"reinforce": reinforce_baseline, "rloo": rloo, "grpo": grpo, "gae": gae}
"""advantage.estimator → function."""
GROUPED = frozenset({"rloo", "grpo"})
"""Estimators that compare the k replies of a prompt (they need rl.k >= 2)."""
MOVING_BASELINE = frozenset({"reinforce"})
"""Estimators whose baseline (`MovingBaseline`) the loop updates after each iteration."""
NEEDS_VALUES = frozenset({"gae"})
"""Estimators that need a value model."""


def whiten(advantages: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit variance over the masked tokens (masked-out entries stay 0)."""
    m = mask.float()
    n = m.sum().clamp(min=1)
    mean = (advantages * m).sum() / n
    var = (((advantages - mean) * m) ** 2).sum() / n
    return (advantages - mean) * torch.rsqrt(var + eps) * m


class MovingBaseline:
    """The reinforce estimator's baseline b: the first batch's mean return, then b ← d·b + (1−d)·mean return
    after each iteration (`advantage.baseline_decay` = d). Its value is part of a checkpoint."""

    def __init__(self, decay: float):
        self.decay, self.value = decay, None

    def current(self, returns: torch.Tensor) -> float:
        return float(returns.mean()) if self.value is None else self.value

    def update(self, mean: float) -> None:
        """Fold in an iteration's mean return (over all processes)."""
        self.value = mean if self.value is None else self.decay * self.value + (1 - self.decay) * mean
