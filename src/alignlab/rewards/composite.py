"""Composite scorers: a weighted sum of other scorers, each optionally binarised by a threshold.

Study D's 0.4·emotion + 0.25·length + 0.35·clean becomes, on the built-in task,
`terms: [{scorer: vader, weight: 0.6}, {scorer: length, weight: 0.2}, {scorer: complete, weight: 0.2}]`.
Multiply the weights by 10 (4, 2.5, 3.5) for study D's 0–10 scale and its thresholds (gap ≥ 4, best ≥ 8).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from alignlab.config.common import RewardTerm


def combine(term_scores: Sequence[torch.Tensor], terms: Sequence[RewardTerm]) -> torch.Tensor:
    """Σ_k w_k · s_k, where s_k is 1[score_k ≥ threshold_k] for thresholded terms. All inputs: [batch]."""
    total = torch.zeros_like(term_scores[0])
    for scores, term in zip(term_scores, terms, strict=True):
        value = (scores >= term.threshold).float() if term.threshold is not None else scores
        total = total + term.weight * value
    return total


def composite(parts: Sequence, terms: Sequence[RewardTerm]):
    """`parts` are built Scorers, one per term (their own batching, quiet)."""
    def score(prompts: list[str], completions: list[str]) -> torch.Tensor:
        return combine([p.score(prompts, completions) for p in parts], terms)
    return score
