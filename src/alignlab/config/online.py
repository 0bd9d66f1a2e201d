"""Settings of the online methods: rollouts and updates, the KL penalty, advantages, and WARP.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its documentation (shown by
`alignlab config show --explain`). The root `Config` (`schema.py`) holds one of each.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from alignlab.config.common import Section
from alignlab.config.errors import allowed_value_error
from alignlab.methods import DEFAULT_WARP_ALGORITHM, names


class RLConfig(Section):
    iterations: int = Field(100, gt=0)
    """Rollout batches (iterations of rollout → score → advantages → update). train.log_every, eval_every and
    save_every count iterations in the online verbs."""
    prompts_per_iteration: int = Field(16, gt=0)
    """Prompts sampled per iteration (per process); each gets `k` replies."""
    k: int = Field(4, gt=0)
    """Replies sampled per prompt. rloo and grpo need k >= 2 (study B used k=10)."""
    update_epochs: int = Field(1, gt=0)
    """Optimisation passes over each rollout batch (PPO's epochs); mini-batches are train.batch_size x
    train.grad_accum replies, shuffled per pass."""
    clip: float = Field(0.2, gt=0)
    """epsilon of the clipped ratio objective (ppo, grpo)."""
    value_clip: float = Field(0.2, gt=0)
    """epsilon of PPO's clipped value loss."""
    vf_coef: float = Field(0.1, ge=0)
    """Weight of PPO's value loss."""
    value_model: Literal["separate", "head"] = "separate"
    """PPO critic: `separate` (its own backbone) or `head` (a value head on the policy's final hidden states)."""
    value_init: str | None = None
    """Backbone of a separate critic: a folder, run directory or Hub id (e.g. the reward model); None: the
    policy's starting model."""


class KLConfig(Section):
    beta: float = Field(0.05, ge=0)
    """KL strength: the objective is reward - beta x KL(policy || reference). 0 disables the KL (and the
    reference model)."""
    estimator: Literal["k1", "k2", "k3"] | None = None
    """Per-token estimator on the policy's own samples (docs/rl.md): k1 = log pi - log ref, k2 = (log ratio)^2/2,
    k3 = ratio - 1 - log ratio. None: k3 for grpo, k1 for the others."""
    mode: Literal["in_reward", "in_loss"] | None = None
    """in_reward: -beta x KL_t is added to each token's reward (PPO/RLOO style); in_loss: beta x KL is a loss
    term computed in the graph (GRPO style). None: in_loss for grpo, in_reward for the others."""
    adaptive: bool = False
    """Adapt beta towards `target` (Ziegler et al. 2019): beta *= 1 + clip(KL/target - 1, -0.2, 0.2) x
    samples/horizon after each iteration."""
    target: float = Field(6.0, gt=0)
    """Target sequence KL of the adaptive controller."""
    horizon: int = Field(10000, gt=0)
    """Horizon (in samples) of the adaptive controller."""


class AdvantageConfig(Section):
    estimator: Literal["reinforce", "rloo", "grpo", "gae"] | None = None
    """Advantage estimator: reinforce (moving-average baseline), rloo (leave-one-out over k), grpo (group
    mean/std), gae (per token, with a value model). None: the algorithm's own (reinforce, rloo, gae, grpo)."""
    whiten: bool | None = None
    """Normalise advantages to zero mean and unit variance over the batch's reply tokens. None: on for ppo."""
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    """reinforce: the baseline is b <- decay x b + (1 - decay) x mean return, updated after each iteration."""
    gamma: float = Field(1.0, gt=0, le=1)
    """gae: discount."""
    lam: float = Field(0.95, ge=0, le=1)
    """gae: lambda."""
    eps: float = Field(1e-4, gt=0)
    """grpo: added to the group standard deviation."""


class WarpConfig(Section):
    iterations: int = Field(2, gt=0)
    """I: rounds of (M RL runs -> SLERP -> LITI); each round starts its runs from the previous round's LITI."""
    runs: int = Field(2, ge=2)
    """M: independent RL runs per round (different seeds, same init); each runs rl.iterations iterations (T)."""
    algorithm: str = DEFAULT_WARP_ALGORITHM
    """The online method of every run: any online method of `alignlab.methods` (`alignlab train --help`)."""

    @field_validator("algorithm")
    @classmethod
    def _online_method(cls, name: str) -> str:
        if name not in names("online"):
            raise allowed_value_error(name, names("online"))
        return name
    lam: float = Field(0.5, ge=0, le=1)
    """lambda of SLERP between two runs' task vectors (M > 2: merged iteratively, the m-th with weight 1/m)."""
    eta: float = Field(0.5, ge=0, le=1)
    """eta of LITI: next init = (1 - eta) x init + eta x SLERP."""
    sweep: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    """eta of the models (1 - eta) x start + eta x last SLERP evaluated at the end (the reward-KL curve); []
    skips the sweep."""
    sweep_run: bool = True
    """Also sweep start -> the last round's first run: the single-run curve the merge's curve is compared with.
    Every run, merge and sweep point is evaluated on eval.prompts held-out prompts x eval.k replies."""

    @field_validator("sweep")
    @classmethod
    def _in_unit_interval(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0 <= x <= 1]
        if bad:
            raise ValueError(f"sweep points must lie in [0, 1] (0 = first init, 1 = SLERP); got {bad}")
        return sorted(set(v))
