"""RLOO as a plug-in of the online loop: REINFORCE with the leave-one-out baseline over k samples per prompt.

Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human
Feedback in LLMs", eq. 4: A_i = R_i − 1/(k−1) Σ_{j≠i} R_j. The KL (k1 by default) is shaped into the reward
before the baseline is taken, so it shapes the gradient (study B's bug: a detached KL added to the loss did not,
and KL rose to 124). `kl.mode=in_loss` keeps it in the graph instead.
"""

from __future__ import annotations

from alignlab.algorithms.reinforce import score_function_loss
from alignlab.config.online import RLConfig


class RLOO:
    name = "rloo"
    estimator, kl_estimator, kl_mode, whiten, needs_value = "rloo", "k1", "in_reward", False, False

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg  # rl.k >= 2 is checked with the config (pipelines.online)

    loss = staticmethod(score_function_loss)
