"""`alignlab train sft`: data → model (+LoRA) → offline loop → final/ model or adapter."""

from __future__ import annotations

from pathlib import Path

from alignlab.algorithms.sft import SFT
from alignlab.config import Config
from alignlab.data.sft import tokenize_rows
from alignlab.data.sources import DataError, load_splits
from alignlab.pipelines.offline import OfflineMethod, run_offline


def prepare_sft_data(cfg: Config, tokenizer, corpus_spec=None):
    splits = load_splits(cfg.data, cfg.seed, corpus_spec)
    train_rows, eval_rows = splits
    train, train_stats = tokenize_rows(train_rows, tokenizer, cfg.data)
    held, held_stats = tokenize_rows(eval_rows, tokenizer, cfg.data) if eval_rows is not None else (None, None)
    if not train:
        raise DataError(f"no training example survived tokenisation ({train_stats.as_dict()}); "
                        "check data.max_length and the field names")
    return train, held, {"train": train_stats.as_dict(), "eval": held_stats.as_dict() if held_stats else None,
                         "duplicates": splits.duplicates}


def _describe(s: dict) -> str:
    return (f"data: {s['kept']} training examples ({s['truncated']} truncated, "
            f"{s['dropped_no_target']} dropped with no target left), {s['target_tokens']} target tokens")


def run_sft(cfg: Config, command: str = "", resume: Path | None = None, corpus_spec=None) -> dict:
    """Train; returns {"run_dir", "train", "eval", "steps"}. Exceptions leave the run resumable."""
    method = OfflineMethod(SFT(cfg.sft.label_smoothing, cfg.model.chunk_tokens),
                           lambda c, tok: prepare_sft_data(c, tok, corpus_spec), _describe)
    return run_offline(cfg, method, command, resume)
