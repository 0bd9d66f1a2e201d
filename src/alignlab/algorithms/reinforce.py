"""REINFORCE with a moving-average baseline as a plug-in of the online loop (study B's first method).

Objective E[r(x, y)] − β·KL(π‖π_ref): the KL is shaped into the per-token rewards (k1) by default, so every
reply token's advantage is R − b with R = score − β·Σ_t KL_t and b the moving-average baseline.
"""

from __future__ import annotations

from alignlab.config.online import RLConfig
from alignlab.losses.policy_gradient import reinforce_loss


def score_function_loss(logps, values, mb):
    """−Σ_t A_t log π(y_t) over a micro-batch's reply tokens (shared with RLOO); `values` is unused."""
    # logps, mb.advantages, mb.mask: [n, T-1]
    loss, _ = reinforce_loss(logps, mb.advantages, mb.mask)
    return loss, {"policy_loss": loss.detach()}


class Reinforce:
    name = "reinforce"
    estimator, kl_estimator, kl_mode, whiten, needs_value = "reinforce", "k1", "in_reward", False, False

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg

    loss = staticmethod(score_function_loss)
