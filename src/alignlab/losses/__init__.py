"""Pure tensor loss functions, each citing its paper; selected by name through `LOSSES`."""

from alignlab.losses.preference import PREFERENCE_LOSSES
from alignlab.losses.reward import bradley_terry
from alignlab.losses.sft import causal_lm_nll

LOSSES = {"sft": causal_lm_nll, "bradley_terry": bradley_terry,
          **{f"dpo_{name}": fn for name, fn in PREFERENCE_LOSSES.items()}}
