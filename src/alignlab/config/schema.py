"""The root config of one run: one section of each area, and the checks that span sections.

The sections live by area: `common.py` (model, LoRA, optimizer, schedule, loop, logging, sampling, reward,
reference), `data.py` (data, pairs), `offline.py` (sft, rm, loss, beta), `online.py` (rl, kl, advantage, warp),
`eval.py` (eval); a sweep file's schema is `sweep.py`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from alignlab.config.common import (
    MAX_SEED,
    GenerationConfig,
    LoggingConfig,
    LoraConfig,
    ModelConfig,
    OptimizerConfig,
    RefConfig,
    RewardConfig,
    SafeName,
    SchedulerConfig,
    Section,
    TrainConfig,
)
from alignlab.config.data import DataConfig, PairsConfig
from alignlab.config.eval import BestOfNConfig, EvalConfig
from alignlab.config.offline import BetaConfig, LossConfig, RMConfig, SFTConfig
from alignlab.config.online import AdvantageConfig, KLConfig, RLConfig, WarpConfig
from alignlab.losses.preference import REFERENCE_FREE


class Config(Section):
    """Root config of one run."""

    name: SafeName = "run"
    """Run name; the run directory is `{output_dir}/{name}-{timestamp}`: letters, digits and - _ . = + only."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seed for data order, initialisation, dropout and sampling."""
    output_dir: str = Field("runs", min_length=1)
    """Parent folder of run directories (the runs folder)."""
    run_dir: str | None = None
    """Exact run directory to use instead of a timestamped one."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """The policy model."""
    lora: LoraConfig = Field(default_factory=LoraConfig)
    """LoRA adapters (off when r=0)."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Training and held-out data."""
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    """Optimizer."""
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    """Learning-rate schedule."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Loop settings shared by every trainer."""
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Trackers and progress display."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Sampling settings for `generate`, quickstart and evaluation."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    """SFT-specific settings."""
    reward: RewardConfig = Field(default_factory=RewardConfig)
    """The scorer used by `pairs` (and later by RL and evaluation)."""
    rm: RMConfig = Field(default_factory=RMConfig)
    """Reward-model training settings (`train rm`)."""
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    """Preference-pair building settings (`pairs`)."""
    loss: LossConfig = Field(default_factory=LossConfig)
    """Preference loss of `train dpo` and its parameters."""
    beta: BetaConfig = Field(default_factory=BetaConfig)
    """beta (KL strength) of the preference loss and its schedule."""
    ref: RefConfig = Field(default_factory=RefConfig)
    """Reference model strategy of `train dpo` and of the online verbs' KL."""
    rl: RLConfig = Field(default_factory=RLConfig)
    """Online RL settings (`train reinforce|rloo|ppo|grpo`)."""
    kl: KLConfig = Field(default_factory=KLConfig)
    """KL penalty of the online verbs."""
    advantage: AdvantageConfig = Field(default_factory=AdvantageConfig)
    """Advantage estimation of the online verbs."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation (`alignlab eval`, in-training sample evaluation) and run diagnostics."""
    warp: WarpConfig = Field(default_factory=WarpConfig)
    """WARP (`train warp`): rounds of RL runs merged by SLERP and LITI."""
    bon: BestOfNConfig = Field(default_factory=BestOfNConfig)
    """Best-of-n (`alignlab bon`): the reply the proxy ranks highest among n samples, gold and proxy against n."""

    @model_validator(mode="after")
    def _lora_needs_targets(self) -> Config:
        if self.lora.enabled and not self.lora.target_modules:
            raise ValueError("lora.target_modules must name at least one module when lora.r > 0")
        return self

    @model_validator(mode="after")
    def _reference_fits_loss(self) -> Config:
        free = self.loss.name in REFERENCE_FREE
        if free and self.ref.mode not in ("auto", "none"):
            raise ValueError(f"ref.mode={self.ref.mode}: loss.name={self.loss.name} is reference-free; "
                             "use ref.mode=none (or auto)")
        if not free and self.ref.mode == "none":
            raise ValueError(f"ref.mode=none: loss.name={self.loss.name} needs a reference; allowed: auto, copy, "
                             f"adapter, adapter_off, precomputed, ema (or a reference-free loss: {', '.join(sorted(REFERENCE_FREE))})")
        if self.ref.mode in ("adapter", "adapter_off") and not self.lora.enabled:
            raise ValueError(f"ref.mode={self.ref.mode} needs LoRA (lora.r > 0): the reference is the policy with "
                             "its adapters off; use ref.mode=copy or precomputed for full fine-tuning")
        if self.ref.mode == "adapter_off" and self.ref.adapter:
            raise ValueError("ref.mode=adapter_off takes the base model (every adapter off) as the reference; "
                             "ref.adapter names another one: drop one of them")
        betas = [self.beta.value] if self.beta.schedule == "constant" else [self.beta.start, self.beta.end]
        if self.loss.name == "ipo" and min(betas) <= 0:
            raise ValueError("beta: IPO's target 1/(2*beta) needs beta > 0 at every step (beta.value, or "
                             "beta.start and beta.end of a schedule)")
        if self.ref.adapter and not self.lora.enabled:
            raise ValueError("ref.adapter needs LoRA (lora.r > 0) on the policy")
        if free and self.loss.length_normalize is not None:
            raise ValueError(f"loss.length_normalize={self.loss.length_normalize}: loss.name={self.loss.name} "
                             "always uses per-token average log-probs (its own definition divides by the reply "
                             "length once); leave loss.length_normalize unset (null)")
        return self

    @property
    def reference_mode(self) -> str:
        """ref.mode with `auto` resolved for the online verbs, whose replies change (see RefConfig.mode)."""
        if self.ref.mode != "auto":
            return self.ref.mode
        if self.loss.name in REFERENCE_FREE:
            return "none"
        return "adapter" if self.lora.enabled else "copy"

    @property
    def offline_reference_mode(self) -> str:
        """ref.mode with `auto` resolved for `train dpo`, whose pairs are fixed: full fine-tuning precomputes the
        reference once (no second model, no reference pass per step); LoRA switches its adapters off."""
        mode = self.reference_mode
        return "precomputed" if self.ref.mode == "auto" and mode == "copy" else mode
