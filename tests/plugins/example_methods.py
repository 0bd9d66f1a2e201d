"""A plug-in as a user would write one: a new DPO-family loss and a new online method, registered at import.

Loaded with ALIGNLAB_PLUGINS=tests.plugins.example_methods (tests/smoke/test_registry_plugins.py); nothing in
src/ names them.
"""

from __future__ import annotations

import torch.nn.functional as F

from alignlab.losses.policy_gradient import reinforce_loss
from alignlab.losses.preference import register_preference_loss
from alignlab.methods import Method, register


def squared_sigmoid(pc, pr, rc, rr, *, beta, **_):
    """(1 − σ(β·h))², a bounded DPO-style loss; h = (pc − pr) − (rc − rr)."""
    z = beta * ((pc - pr) - (rc - rr))  # [B]
    return (1 - F.sigmoid(z)) ** 2, {"reward_chosen": (beta * (pc - rc)).detach(),
                                     "reward_rejected": (beta * (pr - rr)).detach()}


class SignedReinforce:
    """REINFORCE on the sign of the leave-one-out advantage (each reply is pushed up or down by 1)."""

    name = "signed-rloo"
    estimator, kl_estimator, kl_mode, whiten, needs_value = "rloo", "k1", "in_reward", False, False

    def __init__(self, cfg):
        self.cfg = cfg

    @staticmethod
    def loss(logps, values, mb):
        loss, _ = reinforce_loss(logps, mb.advantages.sign(), mb.mask)  # [n, T-1] → scalar sum
        return loss, {"policy_loss": loss.detach()}


register_preference_loss("squared_sigmoid", squared_sigmoid)
register(Method("signed-rloo", "online", "REINFORCE on the sign of the leave-one-out advantage (test plug-in).",
                ("rl", "kl", "advantage", "ref"), runner="alignlab.pipelines.online:run_online",
                algorithm="tests.plugins.example_methods:SignedReinforce"))
