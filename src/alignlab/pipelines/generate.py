"""`alignlab generate`: sample from any model (Hub id, folder, adapter, run directory, builtin:…)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from alignlab.config.common import GenerationConfig, ModelConfig
from alignlab.data.reviews.corpus import CorpusSpec, prompts_for_split
from alignlab.data.reviews.judge import judge_scores
from alignlab.evaluation.metrics import stderr
from alignlab.generation.sample import generate
from alignlab.models.loading import load_model, load_tokenizer
from alignlab.pipelines.common import resolve_model


def builtin_prompts(split: str, n: int, seed: int = 0) -> list[str]:
    return prompts_for_split(CorpusSpec(seed=seed), split)[:n]


def load_for_sampling(model_cfg: ModelConfig):
    """(model on its device, tokenizer) from a Hub id, folder, adapter, run directory or builtin:NAME."""
    mcfg = resolve_model(model_cfg)
    tokenizer, model = load_tokenizer(mcfg), load_model(mcfg)
    device = "cuda" if mcfg.device in ("auto", "cuda") and _cuda() else "cpu"
    return model.to(device).eval(), tokenizer


def sample(model_cfg: ModelConfig, prompts: list[str], gen: GenerationConfig, seed: int = 0,
           chat: bool | str = False, progress: bool = True, k: int = 1) -> list[dict]:
    """One record per completion (`k` per prompt): prompt, completion and its score by the built-in task's gold
    judge (`review_judge`)."""
    model, tokenizer = load_for_sampling(model_cfg)
    completions = generate(model, tokenizer, prompts, gen, seed=seed, chat=chat, progress=progress, k=k)
    flat = [(p, c) for p, cs in zip(prompts, completions, strict=True) for c in cs]
    scores = judge_scores([p for p, _ in flat], [c for _, c in flat])
    return [{"prompt": p, "completion": c, "gold": s} for (p, c), s in zip(flat, scores, strict=True)]


def write_jsonl(records: list[dict], path: Path) -> None:
    from alignlab.runs.atomic import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def mean_and_stderr(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n)); 0 error for fewer than 2 values."""
    if len(values) < 2:
        return (values[0] if values else 0.0), 0.0
    return statistics.fmean(values), stderr(values)
