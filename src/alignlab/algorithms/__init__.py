"""Methods as small plug-ins of the two training loops (offline: batch → loss → step; online: rollout → score →
advantage → update)."""

from alignlab.algorithms.grpo import GRPO
from alignlab.algorithms.ppo import PPO
from alignlab.algorithms.reinforce import Reinforce
from alignlab.algorithms.reward_model import RewardModelTraining
from alignlab.algorithms.rloo import RLOO
from alignlab.algorithms.sft import SFT

OFFLINE_ALGORITHMS = {"sft": SFT, "rm": RewardModelTraining}
ONLINE_ALGORITHMS = {"reinforce": Reinforce, "rloo": RLOO, "ppo": PPO, "grpo": GRPO}
"""`alignlab train NAME` → the online loop's plug-in."""
