"""Per-token KL estimators of KL(π ‖ π_ref) on tokens sampled from the policy π (Schulman 2020, "Approximating
KL Divergence"). With log r = log π_ref(y_t) − log π(y_t):
- k1 = −log r            unbiased, high variance, can be negative per token;
- k2 = ½ (log r)²        biased, low variance, ≥ 0;
- k3 = (r − 1) − log r   unbiased, low variance, ≥ 0 (GRPO's KL loss).
They are only valid on the policy's **own** samples: never feed another model's token ids into the policy.
"""

from __future__ import annotations

import torch


def kl_k1(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    # policy_logps, ref_logps: [N, T] per-token log-probs of the sampled tokens → [N, T]
    return policy_logps - ref_logps


def kl_k2(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    return 0.5 * (ref_logps - policy_logps) ** 2


def kl_k3(policy_logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    log_ratio = ref_logps - policy_logps
    return torch.expm1(log_ratio) - log_ratio  # expm1 keeps precision when the policies are close


KL_ESTIMATORS = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}
"""kl.estimator → per-token estimator."""
