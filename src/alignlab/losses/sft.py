"""Supervised fine-tuning loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def causal_lm_nll(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Summed next-token negative log-likelihood, L = −Σ_t log p(y_t | y_<t) over target tokens
    (Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training", eq. 1).

    Returns the *sum* so that gradient accumulation can divide by the token count of the whole
    accumulation window; metrics["tokens"] is that count for this batch.
    """
    # logits: [B, T, V]; labels: [B, T], IGNORE where no loss; position t predicts labels[:, t + 1]
    targets = labels[:, 1:]  # [B, T-1]
    mask = targets != IGNORE  # [B, T-1]
    picked = logits[:, :-1][mask]  # [N, V], only target positions
    nll = F.cross_entropy(picked.float(), targets[mask], reduction="sum", label_smoothing=label_smoothing)
    return nll, {"tokens": mask.sum()}


def token_nll(logps: torch.Tensor, mean_logps: torch.Tensor | None = None, label_smoothing: float = 0.0
              ) -> torch.Tensor:
    """The same summed NLL from per-token log-probs of the targets only (as `algorithms.logprobs` computes them,
    with no [tokens, V] logits): L = −Σ_t [(1−ε) log p(y_t) + ε (1/V) Σ_v log p(v)], which is
    `F.cross_entropy(..., label_smoothing=ε, reduction="sum")` (Szegedy et al. 2016, "Rethinking the Inception
    Architecture", §7). Positions outside the loss carry 0 in both inputs.
    """
    # logps, mean_logps: [B, T-1] (or any shape), 0 where no loss
    if not label_smoothing:
        return -logps.sum()
    return -((1 - label_smoothing) * logps.sum() + label_smoothing * mean_logps.sum())
