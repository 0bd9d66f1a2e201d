"""Settings of the offline methods: SFT, the reward model and the DPO family's loss and β.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its documentation (shown by
`alignlab config show --explain`). The root `Config` (`schema.py`) holds one of each.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from alignlab.config.common import Section
from alignlab.config.errors import allowed_value_error
from alignlab.losses.preference import PREFERENCE_LOSSES


class SFTConfig(Section):
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    """Label smoothing of the token cross-entropy."""


class RMConfig(Section):
    margin: float = 0.0
    """Constant margin m in the Bradley-Terry loss -log sigmoid(r_c - r_r - m)."""
    margin_scale: float = Field(0.0, ge=0)
    """Adds margin_scale * (chosen_score - rejected_score) to m when the data has those columns (Llama-2 style)."""
    label_field: str | None = None
    """Build pairs from labelled texts instead (study B): the column holding each text's label."""
    positive_label: str | int = "positive"
    """Label value of preferred texts when `label_field` is set."""
    negative_label: str | int = "negative"
    """Label value of dispreferred texts when `label_field` is set."""
    max_pairs: int = Field(20000, gt=0)
    """Labelled texts: cap on positive x negative pairs, sampled with the seed from the full cartesian product."""


class LossConfig(Section):
    name: str = "sigmoid"
    """Preference loss of `train dpo` (see docs/dpo.md): sigmoid (DPO), cdpo, robust, hinge (SLiC), ipo, fkl,
    jsd, alpha (f-DPO), kto_pair, simpo and orpo (the last two need no reference model), or one a plug-in
    registered (`PREFERENCE_LOSSES`)."""

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        if name not in PREFERENCE_LOSSES:
            raise allowed_value_error(name, list(PREFERENCE_LOSSES))
        return name

    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)
    """epsilon of cdpo (label smoothing) and robust (assumed label-flip rate); study A used 0.15 for cdpo."""
    alpha: float = Field(0.5, gt=0.0, le=1.0)
    """alpha of the `alpha` loss, in the f-DPO paper's convention: alpha->0 is reverse KL (DPO), 1 is forward KL.
    A library writing alpha' = 1 - alpha for the same divergence: set alpha = 1 - alpha'."""
    gamma: float = 0.5
    """SimPO target margin gamma in -log sigmoid(beta * (avg logp_c - avg logp_r) - gamma)."""
    orpo_lambda: float = Field(0.1, ge=0.0)
    """ORPO weight lambda of the odds-ratio term added to the chosen NLL."""
    length_normalize: bool | None = None
    """Use per-token average log-probs instead of sums in the reference-based losses. None: the loss's own
    convention (ipo: average, as its authors endorse; the rest: sums). Study A's IPO used sums (false).
    simpo and orpo are length-normalised by definition and refuse any value here."""
    sft_weight: float = Field(0.0, ge=0.0)
    """Adds sft_weight x (per-token NLL of the chosen reply) to any loss (RPO-style regulariser)."""


class BetaConfig(Section):
    value: float = Field(0.1, gt=0.0)
    """beta of the loss when schedule=constant (the KL strength; ORPO uses it only for its reported rewards)."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """How beta moves over training, stepped per optimizer step (gradient accumulation does not change it)."""
    start: float | None = Field(None, ge=0.0)
    """beta at the first optimizer step (linear, cosine)."""
    end: float | None = Field(None, ge=0.0)
    """beta at the last optimizer step (linear, cosine)."""

    @model_validator(mode="after")
    def _schedule_ends(self) -> BetaConfig:
        if self.schedule != "constant" and (self.start is None or self.end is None):
            raise ValueError(f"beta.schedule={self.schedule} needs beta.start and beta.end")
        return self
