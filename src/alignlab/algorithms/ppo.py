"""PPO as a plug-in of the online loop: clipped ratio objective + clipped value loss, GAE advantages.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. 7 (clip) and eq. 9 (the sum with the
value loss, c1 = `rl.vf_coef`); GAE (Schulman et al. 2016) over reply tokens; per-token KL shaped into the
reward (k1) with an optional adaptive β (Ziegler et al. 2019); whitened advantages. `rl.update_epochs` > 1
reuses each rollout batch, which is what the ratio clipping is for.
"""

from __future__ import annotations

from alignlab.config.online import RLConfig
from alignlab.losses.policy_gradient import clipped_value_loss, ppo_clip_loss


class PPO:
    name = "ppo"
    estimator, kl_estimator, kl_mode, whiten, needs_value = "gae", "k1", "in_reward", True, True

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg

    def loss(self, logps, values, mb):
        # logps, values, mb.*: [n, T-1]
        policy, m = ppo_clip_loss(logps, mb.old_logps, mb.advantages, mb.mask, self.cfg.clip)
        value, _ = clipped_value_loss(values, mb.old_values, mb.returns, mb.mask, self.cfg.value_clip)
        return policy + self.cfg.vf_coef * value, {"policy_loss": policy.detach(), "value_loss": value.detach(),
                                                   "clip_fraction": m["clipped"], "approx_kl": m["approx_kl"]}
