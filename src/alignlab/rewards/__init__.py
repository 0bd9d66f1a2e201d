"""Reward functions behind one interface: `build_scorer(spec, cfg).score(prompts, completions) -> tensor[batch]`.

Specs: `review_judge[:TARGET]` (the built-in task's gold judge), `vader`, `length`, `complete`, `repetition`, `embedding`,
`reward_model:PATH`, `classifier:NAME_OR_PATH:LABEL`, and `composite` (weighted terms from `reward.terms`).
Scorers are chosen through the `SCORERS` table, never through a chain of name tests.
"""

from __future__ import annotations

from alignlab.config.common import RewardConfig
from alignlab.config.errors import ConfigError, did_you_mean
from alignlab.rewards import composite as _composite
from alignlab.rewards import rules
from alignlab.rewards.base import BatchedScorer, Scorer


def _refuse_argument(kind: str, arg: str) -> None:
    if arg:
        raise ConfigError(f"reward.scorer: '{kind}' takes no argument (got '{kind}:{arg}')")


def _no_argument(kind, fn):
    def build(arg: str, cfg: RewardConfig, device: str):
        _refuse_argument(kind, arg)
        return fn(cfg)
    return build


def _reward_model(arg: str, cfg: RewardConfig, device: str):
    if not arg:
        raise ConfigError("reward.scorer: write reward_model:PATH (a folder, run directory or Hub id)")
    from alignlab.rewards.models import reward_model

    return reward_model(arg, cfg, device)


def _classifier(arg: str, cfg: RewardConfig, device: str):
    path, _, label = arg.rpartition(":")
    if not path or not label:
        raise ConfigError("reward.scorer: write classifier:NAME_OR_PATH:LABEL, e.g. "
                          "classifier:lvwerra/distilbert-imdb:POSITIVE")
    from alignlab.rewards.models import classifier

    return classifier(path, label, cfg, device)


def _embedding(arg: str, cfg: RewardConfig, device: str):
    _refuse_argument("embedding", arg)
    from alignlab.rewards.embedding import embedding

    return embedding(cfg, device)


def _composite_scorer(arg: str, cfg: RewardConfig, device: str):
    _refuse_argument("composite", arg)  # its terms come from reward.terms
    parts = [build_scorer(t.scorer, cfg, device, progress=False) for t in cfg.terms]
    return _composite.composite(parts, cfg.terms)


def _review_judge(arg: str, cfg: RewardConfig, device: str):
    from alignlab.data.reviews.judge import DEFAULT_TARGET, TARGETS, judge_scores

    target = arg or DEFAULT_TARGET
    if target not in TARGETS:
        raise ConfigError(f"reward.scorer: review_judge:{arg}: the target must be one of {', '.join(TARGETS)}")
    return lambda prompts, completions: judge_scores(prompts, completions, target)


SCORERS = {
    "review_judge": _review_judge,
    "vader": _no_argument("vader", lambda cfg: rules.vader),
    "length": _no_argument("length", lambda cfg: rules.length(cfg.length.min_words, cfg.length.max_words)),
    "complete": _no_argument("complete", lambda cfg: rules.complete),
    "repetition": _no_argument("repetition", lambda cfg: rules.repetition(cfg.repetition_ngram)),
    "embedding": _embedding,
    "reward_model": _reward_model,
    "classifier": _classifier,
    "composite": _composite_scorer,
}
"""Scorer kind → builder(argument after the first ':', RewardConfig, device) returning a score function."""

MODEL_SCORERS = ("reward_model", "classifier", "embedding")


def build_scorer(spec: str | None = None, cfg: RewardConfig | None = None, device: str = "auto",
                 progress: bool = True) -> Scorer:
    """A `Scorer` for `spec` (default: `cfg.scorer`)."""
    cfg = cfg or RewardConfig()
    spec = spec or cfg.scorer
    kind, _, arg = spec.partition(":")
    if kind not in SCORERS:
        raise ConfigError(f"reward.scorer: unknown scorer '{kind}'{did_you_mean(kind, list(SCORERS))}; "
                          f"available: {', '.join(SCORERS)}")
    fn = SCORERS[kind](arg, cfg, device)
    batch = cfg.batch_size if kind in MODEL_SCORERS else 1024
    return BatchedScorer(spec, fn, batch_size=batch, progress=progress)


__all__ = ["SCORERS", "BatchedScorer", "Scorer", "build_scorer"]
