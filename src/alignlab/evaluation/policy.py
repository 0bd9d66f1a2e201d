"""Held-out evaluation of one policy: sample replies to fixed prompts with a fixed seed, score them with the
training reward and the gold scorer, and measure KL to a reference on those samples.

Every model evaluated with the same `HeldOut` sees the same prompts and the same sampling seed (common random
numbers), so differences between models are not noise of the prompt draw. KL is the sequence-level
Σ_t (log π − log π_ref) on the policy's own samples (k1; k2 and k3 are logged too).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from alignlab.config.schema import GenerationConfig
from alignlab.rollout import HFRolloutEngine
from alignlab.training.online import kl_per_token, reference_logps, sample_metrics, sample_prompts


@dataclass
class HeldOut:
    """What every evaluated model is measured on."""

    prompts: list[str]
    k: int
    seed: int
    generation: GenerationConfig
    scorer: object
    """The training reward."""
    gold: object | None
    """The gold scorer (None: only the training reward)."""
    reference: object | None
    """A reference strategy for KL (e.g. `FrozenCopy` of the starting model), or None."""
    chat: bool = False
    chunk_tokens: int = 1024


@torch.no_grad()
def evaluate_policy(model, tokenizer, h: HeldOut) -> tuple[dict, list[dict]]:
    """(metrics, one row per sample). Metrics: reward_mean/std/stderr, gold_reward_mean/std/stderr, kl_k1/k2/k3,
    entropy, response_length, truncated_fraction, identical_fraction."""
    engine = HFRolloutEngine(model, tokenizer, h.generation, chat=h.chat, chunk_tokens=h.chunk_tokens)
    roll = engine.generate(h.prompts, h.k, seed=h.seed)
    flat = sample_prompts(roll)
    scores = h.scorer.score(flat, roll.texts).float()
    ref = reference_logps(h.reference, model, roll, h.generation.batch_size, h.chunk_tokens)
    metrics = sample_metrics(roll, scores.to(roll.logps.device), roll.token_mask, kl_per_token(roll, ref))
    metrics["reward_stderr"] = _stderr(scores)
    rows = [{"prompt": p, "completion": c, "reward": float(s)} for p, c, s in zip(flat, roll.texts, scores, strict=True)]
    if h.gold is not None:
        gold = h.gold.score(flat, roll.texts).float()
        metrics |= {"gold_reward_mean": float(gold.mean()), "gold_reward_std": float(gold.std()) if len(gold) > 1 else 0.0,
                    "gold_reward_stderr": _stderr(gold)}
        for row, g in zip(rows, gold, strict=True):
            row["gold"] = float(g)
    return metrics, rows


def _stderr(values: torch.Tensor) -> float:
    v = values.tolist()
    return statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else 0.0
