"""Held-out evaluation of one policy: sample replies to fixed prompts with a fixed seed, score them with the
training reward and the gold scorer, and measure KL to a reference on those samples.

Every model evaluated with the same `HeldOut` sees the same prompts and the same sampling seed (common random
numbers), so differences between models are not noise of the prompt draw. KL is the sequence-level
Σ_t (log π − log π_ref) on the policy's own samples (k1; k2 and k3 are logged too).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

import torch

from alignlab.config.schema import GenerationConfig
from alignlab.data.pairing import ends_sentence
from alignlab.evaluation.metrics import (
    distinct_n,
    entropy,
    mean_ci,
    pooled_token_entropy,
    repetition_rate,
    self_bleu,
    stderr,
    words,
)
from alignlab.rollout import HFRolloutEngine, Rollout
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
    progress: object | None = None
    """Called with the number of prompts sampled so far (a progress bar), or None."""
    target_threshold: float | None = None
    """Replies whose gold score (else reward) exceeds it are on target (`on_target_fraction`); None: not measured."""


@torch.no_grad()
def evaluate_policy(model, tokenizer, h: HeldOut) -> tuple[dict, list[dict]]:
    """(metrics, one row per sample). Metrics: reward_mean/std/stderr, gold_reward_mean/std/stderr, kl_k1/k2/k3 with
    the 95% CI of the sequence KL (kl_ci_low/high), entropy, response_length, truncated_fraction,
    identical_fraction, on_target_fraction (with a target threshold), and the text diversity of `text_metrics`."""
    engine = HFRolloutEngine(model, tokenizer, h.generation, chat=h.chat, chunk_tokens=h.chunk_tokens)
    roll = engine.generate(h.prompts, h.k, seed=h.seed, progress=h.progress)
    flat = sample_prompts(roll)
    scores = h.scorer.score(flat, roll.texts).float()
    ref = reference_logps(h.reference, model, roll, h.generation.batch_size, h.chunk_tokens)
    kl = kl_per_token(roll, ref)
    metrics = sample_metrics(roll, scores.to(roll.logps.device), roll.token_mask, kl) | text_metrics(roll, tokenizer)
    metrics["reward_stderr"] = stderr(scores.tolist())
    lengths = roll.lengths.tolist()
    rows = [{"prompt": p, "completion": c, "reward": float(s), "tokens": int(n), "finished": bool(f)}
            for p, c, s, n, f in zip(flat, roll.texts, scores, lengths, roll.finished.tolist(), strict=True)]
    for row, h_prompt in zip(rows, prompt_entropies(roll, tokenizer), strict=True):
        row["prompt_entropy"] = h_prompt  # the same for a prompt's k rows: paired comparisons use it per prompt
    if kl:
        seq_kl = kl["k1"].sum(-1).tolist()  # [N] Σ_t (log π − log π_ref) of each sample
        ci = mean_ci(seq_kl)
        metrics |= {"kl_ci_low": ci["ci_low"], "kl_ci_high": ci["ci_high"]}
        for row, v in zip(rows, seq_kl, strict=True):
            row["kl"] = v
    if h.gold is not None:
        gold = h.gold.score(flat, roll.texts).float()
        metrics |= {"gold_reward_mean": float(gold.mean()), "gold_reward_std": float(gold.std()) if len(gold) > 1 else 0.0,
                    "gold_reward_stderr": stderr(gold.tolist())}
        for row, g in zip(rows, gold, strict=True):
            row["gold"] = float(g)
    if h.target_threshold is not None:
        judged = gold if h.gold is not None else scores
        metrics["on_target_fraction"] = float((judged > h.target_threshold).float().mean())
    return metrics, rows


def reply_tokens(roll: Rollout, tokenizer) -> list[list[int]]:
    """Each sample's reply token ids, special tokens (EOS, padding) removed."""
    special = set(tokenizer.all_special_ids)
    ids, mask = roll.input_ids.tolist(), roll.response_mask.bool().tolist()
    return [[t for t, m in zip(row, keep, strict=True) if m and t not in special] for row, keep in zip(ids, mask, strict=True)]


def prompt_entropies(roll: Rollout, tokenizer) -> list[float]:
    """Each sample's prompt's pooled token entropy (one value per prompt, repeated for its k samples)."""
    ids, k = reply_tokens(roll, tokenizer), roll.k
    per_prompt = [entropy(Counter(t for reply in ids[i:i + k] for t in reply)) for i in range(0, len(ids), k)]
    return [h for h in per_prompt for _ in range(k)]


def text_metrics(roll: Rollout, tokenizer) -> dict:
    """Diversity and degeneration of a rollout's replies: pooled per-prompt token entropy (study A), distinct-1/2
    and repetition rate over words, self-BLEU among the k replies of each prompt, reply-length quantiles, and the
    share of replies cut off mid-sentence (their text does not end with . ! or ?, whatever stopped them)."""
    ids = reply_tokens(roll, tokenizer)
    toks = [words(t) for t in roll.texts]
    k = roll.k
    id_groups = [ids[i:i + k] for i in range(0, len(ids), k)]
    word_groups = [toks[i:i + k] for i in range(0, len(toks), k)]
    lengths = sorted(len(x) for x in ids)
    return {"pooled_entropy": pooled_token_entropy(id_groups), "distinct_1": distinct_n(toks, 1),
            "distinct_2": distinct_n(toks, 2), "self_bleu": self_bleu(word_groups),
            "repetition_rate": statistics.fmean(repetition_rate(t, 3) for t in toks) if toks else 0.0,
            "length_median": float(lengths[len(lengths) // 2]) if lengths else 0.0,
            "length_max": float(lengths[-1]) if lengths else 0.0,
            "cut_off_fraction": statistics.fmean(not ends_sentence(t) for t in roll.texts) if roll.texts else 0.0}
