"""β of the online KL penalty: fixed, or adapted towards a target KL (PPO's adaptive controller).

Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences", §2.2:
    e = clip(KL / KL_target − 1, −0.2, 0.2),   β ← β · (1 + K_β · e),   K_β = samples in the batch / horizon.
KL is the mean sequence KL of the iteration under the configured estimator.
"""

from __future__ import annotations

from alignlab.config.online import KLConfig


class KLController:
    def __init__(self, cfg: KLConfig):
        self.cfg, self.beta = cfg, cfg.beta

    def update(self, kl: float, samples: int) -> None:
        if not self.cfg.adaptive:
            return
        error = min(max(kl / self.cfg.target - 1.0, -0.2), 0.2)
        self.beta *= 1.0 + error * samples / self.cfg.horizon
