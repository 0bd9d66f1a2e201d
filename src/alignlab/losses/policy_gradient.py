"""Policy-gradient losses on per-token log-probs of sampled replies: pure tensor functions returning
(loss summed over masked tokens, metrics). The mask selects reply tokens; sums let the loop divide by the token
count of a whole accumulation window."""

from __future__ import annotations

import torch


def reinforce_loss(logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Score-function estimator −Σ_t A_t · log π(y_t) (Williams 1992, "Simple statistical gradient-following
    algorithms", eq. 2 with a baseline folded into A)."""
    # logps, advantages, mask: [N, T]
    m = mask.float()
    return -(advantages.detach() * logps * m).sum(), {"tokens": m.sum()}


def ppo_clip_loss(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                  clip: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate −Σ_t min(ρ_t A_t, clip(ρ_t, 1−ε, 1+ε) A_t), ρ_t = π(y_t)/π_old(y_t) (Schulman et al.
    2017, "Proximal Policy Optimization Algorithms", eq. 7). Metrics (sums over tokens): clipped tokens and the
    approximate KL ½(log ρ)² of the update."""
    # logps, old_logps, advantages, mask: [N, T]
    m = mask.float()
    log_ratio = logps - old_logps.detach()
    ratio = torch.exp(log_ratio)
    adv = advantages.detach()
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    clipped = ((ratio - 1).abs() > clip).float() * m
    return -(surrogate * m).sum(), {"clipped": clipped.sum(), "approx_kl": (0.5 * log_ratio.detach() ** 2 * m).sum(),
                                     "tokens": m.sum()}


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       clip: float = 0.2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """½ Σ_t max((V − R)², (clip(V, V_old ± ε) − R)²) (PPO's clipped value loss, as in Ziegler et al. 2019,
    "Fine-Tuning Language Models from Human Preferences")."""
    # values, old_values, returns, mask: [N, T]
    m = mask.float()
    clipped = old_values.detach() + (values - old_values.detach()).clamp(-clip, clip)
    loss = 0.5 * torch.maximum((values - returns.detach()) ** 2, (clipped - returns.detach()) ** 2)
    return (loss * m).sum(), {"tokens": m.sum()}
