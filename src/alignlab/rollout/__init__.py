"""Rollout engines: prompts → sampled replies with masks and behaviour log-probs (see engine.py)."""

from alignlab.rollout.engine import HFRolloutEngine, Rollout, RolloutEngine

__all__ = ["HFRolloutEngine", "Rollout", "RolloutEngine"]
