"""Methods as small plug-ins of the two training loops (offline: batch → loss → step)."""

from alignlab.algorithms.reward_model import RewardModelTraining
from alignlab.algorithms.sft import SFT

OFFLINE_ALGORITHMS = {"sft": SFT, "rm": RewardModelTraining}
