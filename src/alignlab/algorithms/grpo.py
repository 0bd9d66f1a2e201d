"""GRPO as a plug-in of the online loop: group-normalised advantages, PPO's clip, and a k3 KL loss.

Shao et al. 2024, "DeepSeekMath", eq. 3: A_i = (R_i − mean_group) / (std_group + ε) over the k replies of a
prompt, the clipped ratio objective, and β·KL as a loss term with the k3 estimator (r − 1 − log r ≥ 0), kept in
the graph (`kl.mode=in_loss`), so the reward itself is not KL-shaped. No value model.
"""

from __future__ import annotations

from alignlab.config.online import RLConfig
from alignlab.losses.policy_gradient import ppo_clip_loss


class GRPO:
    name = "grpo"
    estimator, kl_estimator, kl_mode, whiten, needs_value = "grpo", "k3", "in_loss", False, False

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg  # rl.k >= 2 is checked with the config (pipelines.online)

    def loss(self, logps, values, mb):
        # logps, mb.*: [n, T-1]
        policy, m = ppo_clip_loss(logps, mb.old_logps, mb.advantages, mb.mask, self.cfg.clip)
        return policy, {"policy_loss": policy.detach(), "clip_fraction": m["clipped"], "approx_kl": m["approx_kl"]}
