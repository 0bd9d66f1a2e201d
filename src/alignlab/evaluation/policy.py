"""Held-out evaluation of one policy: sample replies to fixed prompts with a fixed seed, score them with the
training reward and the gold scorer, and measure KL to a reference on those samples.

Every model evaluated with the same `HeldOut` sees the same prompts and the same sampling seed (common random
numbers), so differences between models are not noise of the prompt draw. KL is the sequence-level
Σ_t (log π − log π_ref) on the policy's own samples (k1; k2 and k3 are logged too). When the evaluation samples
from a tempered or truncated distribution (T ≠ 1, top-k, top-p, a repetition penalty…), those replies are not the
policy's own, so the KL is measured on a second, separate set drawn at T = 1 without truncation (same prompts,
same k, same seed); `kl_samples` says which ("evaluation samples" or "separate T=1 untruncated samples").
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from alignlab.algorithms.reference import ReferenceStrategy
from alignlab.config.common import GenerationConfig
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
from alignlab.rewards.base import Scorer
from alignlab.rollout import HFRolloutEngine, Rollout
from alignlab.rollout.statistics import kl_per_token, reference_logps, sample_metrics, sample_prompts

EVAL_SEED_OFFSET = 7919
"""Held-out samples use their own fixed seed (the run's seed + this): every evaluation of a run, and every model of
a comparison, sees the same prompts and the same sampling noise."""


@dataclass
class HeldOut:
    """What every evaluated model is measured on."""

    prompts: list[str]
    k: int
    seed: int
    generation: GenerationConfig
    scorer: Scorer
    """The training reward."""
    gold: Scorer | None
    """The gold scorer (None: only the training reward)."""
    reference: ReferenceStrategy | None
    """A reference strategy for KL (e.g. `FrozenCopy` of the starting model), or None."""
    chat: bool | str = False
    chunk_tokens: int = 1024
    progress: Callable[[int], None] | None = None
    """Called with the number of prompts sampled so far (a progress bar), or None."""
    target_threshold: float | None = None
    """Replies whose gold score (else reward) exceeds it are on target (`on_target_fraction`); None: not measured."""


@torch.no_grad()
def evaluate_policy(model, tokenizer, h: HeldOut) -> tuple[dict, list[dict]]:
    """(metrics, one row per sample). Metrics: reward_mean/std/stderr, gold_reward_mean/std/stderr, kl_k1/k2/k3 and
    sqrt_kl = √max(kl_k1, 0) with the 95% CI of the sequence KL (kl_ci_low/high), entropy, response_length, truncated_fraction,
    identical_fraction, on_target_fraction (with a target threshold), and the text diversity of `text_metrics`."""
    engine = HFRolloutEngine(model, tokenizer, h.generation, chat=h.chat, chunk_tokens=h.chunk_tokens)
    roll = engine.generate(h.prompts, h.k, seed=h.seed, progress=h.progress)
    flat = sample_prompts(roll)
    scores = h.scorer.score(flat, roll.texts).float()
    kl_roll = roll
    if h.reference is not None and not h.generation.samples_policy:
        kl_engine = HFRolloutEngine(model, tokenizer, h.generation.untempered(), chat=h.chat, chunk_tokens=h.chunk_tokens)
        kl_roll = kl_engine.generate(h.prompts, h.k, seed=h.seed)
    ref = reference_logps(h.reference, model, kl_roll, h.generation.batch_size, h.chunk_tokens)
    kl = kl_per_token(kl_roll, ref)
    ids = reply_tokens(roll, tokenizer)
    metrics = sample_metrics(roll, scores.to(roll.logps.device), roll.token_mask, {}) | text_metrics(roll, tokenizer, ids)
    if kl:
        metrics |= {f"kl_{name}": float(v.sum(-1).mean()) for name, v in kl.items()}
        metrics["sqrt_kl"] = math.sqrt(max(metrics["kl_k1"], 0.0))  # d of Gao et al. (2022): gold and proxy vs d
        metrics["kl_samples"] = "evaluation samples" if kl_roll is roll else "separate T=1 untruncated samples"
    metrics["reward_stderr"] = stderr(scores.tolist())
    lengths = roll.lengths.tolist()
    rows = [{"prompt": p, "completion": c, "reward": float(s), "tokens": int(n), "finished": bool(f)}
            for p, c, s, n, f in zip(flat, roll.texts, scores, lengths, roll.finished.tolist(), strict=True)]
    for row, h_prompt in zip(rows, prompt_entropies(ids, roll.k), strict=True):
        row["prompt_entropy"] = h_prompt  # the same for a prompt's k rows: paired comparisons use it per prompt
    for row, h_prompt in zip(rows, prompt_entropies(ids, roll.k, LENGTH_CONTROL_TOKENS), strict=True):
        row["prompt_entropy_prefix"] = h_prompt
    if kl:  # row i's KL is of sample i of the KL set: the same prompt, and the same reply when kl_samples is own
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


def sampling_evaluator(held: HeldOut, tokenizer, reference: Callable[[], object] = lambda: None):
    """The one held-out sampling evaluation both training loops run: (model, process index=0, processes=1) →
    `evaluate_policy` on that process's share of the prompts (every `processes`-th, from `index`) with the seed
    `held.seed + index`, and KL to `reference()` (the live reference: an EMA anchor moves during training)."""
    def run(model, index: int = 0, processes: int = 1) -> tuple[dict, list[dict]]:
        h = replace(held, prompts=held.prompts[index::processes], seed=held.seed + index, reference=reference())
        return evaluate_policy(model, tokenizer, h) if h.prompts else ({}, [])

    return run


def reply_tokens(roll: Rollout, tokenizer) -> list[list[int]]:
    """Each sample's reply token ids, special tokens (EOS, padding) removed."""
    special = set(tokenizer.all_special_ids)
    ids, mask = roll.input_ids.tolist(), roll.response_mask.bool().tolist()
    return [[t for t, m in zip(row, keep, strict=True) if m and t not in special] for row, keep in zip(ids, mask, strict=True)]


LENGTH_CONTROL_TOKENS = 16
"""Replies are cut to their first this many tokens for the length-controlled pooled entropy."""


def prompt_entropies(ids: list[list[int]], k: int, prefix: int | None = None) -> list[float]:
    """Each sample's prompt's pooled token entropy (one value per prompt, repeated for its k samples), from the
    replies' token ids (`reply_tokens`, k consecutive samples per prompt); with `prefix`, of the replies' first
    `prefix` tokens only. A prompt whose replies are all empty has entropy 0."""
    ids = [reply[:prefix] for reply in ids] if prefix else ids
    per_prompt = [entropy(Counter(t for reply in ids[i:i + k] for t in reply)) for i in range(0, len(ids), k)]
    return [h for h in per_prompt for _ in range(k)]


def text_metrics(roll: Rollout, tokenizer, ids: list[list[int]] | None = None) -> dict:
    """Diversity and degeneration of a rollout's replies: pooled per-prompt token entropy (study A; a prompt whose
    replies are all empty counts 0, and `empty_prompts` counts them), its length-controlled variant on each reply's
    first LENGTH_CONTROL_TOKENS tokens (`pooled_entropy_prefix`: longer replies pool more tokens, which raises the
    plain entropy by itself), distinct-1/2
    and repetition rate over words, self-BLEU among the k replies of each prompt, reply-length quantiles, and the
    share of replies cut off mid-sentence (their text does not end with . ! or ?, whatever stopped them). `ids`:
    the replies' token ids when the caller already has them (`reply_tokens`)."""
    ids = reply_tokens(roll, tokenizer) if ids is None else ids
    toks = [words(t) for t in roll.texts]
    k = roll.k
    id_groups = [ids[i:i + k] for i in range(0, len(ids), k)]
    word_groups = [toks[i:i + k] for i in range(0, len(toks), k)]
    lengths = sorted(len(x) for x in ids)
    prefix_groups = [[reply[:LENGTH_CONTROL_TOKENS] for reply in g] for g in id_groups]
    return {"pooled_entropy": pooled_token_entropy(id_groups),
            "pooled_entropy_prefix": pooled_token_entropy(prefix_groups),
            "empty_prompts": sum(not any(g) for g in id_groups),
            "distinct_1": distinct_n(toks, 1),
            "distinct_2": distinct_n(toks, 2), "self_bleu": self_bleu(word_groups),
            "repetition_rate": statistics.fmean(repetition_rate(t, 3) for t in toks) if toks else 0.0,
            "length_median": float(lengths[len(lengths) // 2]) if lengths else 0.0,
            "length_max": float(lengths[-1]) if lengths else 0.0,
            "cut_off_fraction": statistics.fmean(not ends_sentence(t) for t in roll.texts) if roll.texts else 0.0}
