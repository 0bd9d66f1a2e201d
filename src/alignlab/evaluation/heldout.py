"""Likelihood-based held-out metrics of a policy: preference-pair accuracy with the implicit-reward margin
(DPO, Rafailov et al. 2023, eq. 5: r(x, y) = β·log π(y|x)/π_ref(y|x)) and perplexity on prompt/response data.

Both run without gradients in batches, one log-prob per reply token (no full log-softmax over the vocabulary).
"""

from __future__ import annotations

import math

import torch
from accelerate.utils import send_to_device

from alignlab.algorithms.logprobs import batch_sequence_logps, sequence_logps
from alignlab.algorithms.reference import frozen_eval
from alignlab.data.batching import pad_collate, preference_collate
from alignlab.evaluation.metrics import mean_ci, ranking_accuracy
from alignlab.losses.sft import IGNORE


def _batches(examples: list[dict], collate, batch_size: int, device):
    for s in range(0, len(examples), batch_size):
        yield send_to_device(collate(examples[s:s + batch_size]), device)


def pair_metrics(model, reference, examples: list[dict], pad_id: int, beta: float, batch_size: int = 16,
                 chunk: int = 1024) -> dict:
    """Held-out preference pairs (policy_examples) → accuracy (implicit reward of chosen > rejected, ties ½), the mean
    implicit-reward margin β·[(log π − log π_ref)(y_c) − (log π − log π_ref)(y_r)] with its 95% CI, and the
    policy's own log-prob preference. Without a reference the margin is β·(log π(y_c) − log π(y_r))."""
    device = next(model.parameters()).device
    margins, raw = [], []
    with frozen_eval(model):
        for batch in _batches(examples, preference_collate(pad_id), batch_size, device):
            logps, _ = batch_sequence_logps(model, batch, chunk)
            ref = reference.logps(model, batch, chunk) if reference is not None else torch.zeros_like(logps)
            pc, pr = logps.float().chunk(2)  # [B] each
            rc, rr = ref.float().chunk(2)
            margins += (beta * ((pc - rc) - (pr - rr))).tolist()
            raw += (pc - pr).tolist()
    ci = mean_ci(margins)
    return {"pair_accuracy": ranking_accuracy(margins), "reward_margin": ci["mean"],
            "reward_margin_ci_low": ci["ci_low"], "reward_margin_ci_high": ci["ci_high"],
            "logp_accuracy": ranking_accuracy(raw), "pairs": len(margins),
            "beta": beta, "with_reference": reference is not None}


def perplexity(model, examples: list[dict], pad_id: int, batch_size: int = 16, chunk: int = 1024) -> dict:
    """exp(mean negative log-likelihood per target token) on tokenised prompt/response examples (tokenize_rows),
    with each example's summed NLL in nats (`example_nll`, for paired comparisons: `nll_difference`)."""
    device = next(model.parameters()).device
    per_example: list[float] = []
    tokens = 0
    with frozen_eval(model):
        for batch in _batches(examples, pad_collate(pad_id), batch_size, device):
            mask = (batch["labels"] != IGNORE).long()  # [B, T] target tokens
            logps, n = sequence_logps(model, batch["input_ids"], batch["attention_mask"], mask, chunk)  # [B], [B]
            per_example += (-logps.float()).tolist()
            tokens += int(n.sum())
    loss = sum(per_example) / max(tokens, 1)
    return {"nll": loss, "perplexity": math.exp(min(loss, 50.0)), "tokens": tokens, "examples": len(examples),
            "example_nll": per_example}


def nll_difference(mine: list[float], theirs: list[float], tokens: int) -> dict:
    """Paired held-out likelihood comparison of two models on the same texts: per example the difference of summed
    NLL in nats (so tokenizers may differ), its mean with a normal 95% CI over examples, and the same per target
    token of `mine` (mean difference × examples / tokens). Negative: `mine` predicts the texts better."""
    diffs = [a - b for a, b in zip(mine, theirs, strict=True)]
    ci = mean_ci(diffs)
    per_token = len(diffs) / max(tokens, 1)
    return {"nll_diff_per_example": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
            "nll_diff_per_token": ci["mean"] * per_token, "per_token_ci_low": ci["ci_low"] * per_token,
            "per_token_ci_high": ci["ci_high"] * per_token, "examples": len(diffs),
            "better": sum(d < 0 for d in diffs) / len(diffs) if diffs else 0.0}
