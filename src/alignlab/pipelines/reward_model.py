"""`alignlab train rm`: preference pairs (or labelled texts) → scalar-head model → Bradley–Terry → final/.

The final folder is a `save_pretrained` sequence-classification model (or LoRA adapter with its head) plus
`alignlab_reward.json`, which tells the `reward_model:PATH` scorer how inputs were rendered.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.algorithms.reward_model import RewardModelTraining
from alignlab.config import Config
from alignlab.data.preference import labelled_pairs, read_pairs, reward_examples
from alignlab.data.sft import chat_template_for
from alignlab.data.sources import DataError, load_splits
from alignlab.pipelines.common import resolve_data
from alignlab.pipelines.offline import OfflineMethod, run_offline
from alignlab.rewards.models import REWARD_META
from alignlab.runs.atomic import atomic_write_json


def load_pairs(cfg: Config):
    """(train pairs, held-out pairs or None) from preference rows or labelled texts."""
    train_rows, eval_rows = load_splits(resolve_data(cfg.data), cfg.seed)
    if cfg.rm.label_field is None:
        return read_pairs(train_rows, cfg.data), read_pairs(eval_rows, cfg.data) if eval_rows is not None else None
    held_cap = cfg.rm.model_copy(update={"max_pairs": cfg.data.max_eval_samples or cfg.rm.max_pairs})
    return (labelled_pairs(train_rows, cfg.data, cfg.rm, cfg.seed),
            labelled_pairs(eval_rows, cfg.data, held_cap, cfg.seed) if eval_rows is not None else None)


def prepare_rm_data(cfg: Config, tokenizer, info: dict):
    train_pairs, held_pairs = load_pairs(cfg)
    info["chat"] = bool(train_pairs) and isinstance(train_pairs[0].chosen_prompt, list)  # message-list data
    train, train_stats = reward_examples(train_pairs, tokenizer, cfg.data)
    held, held_stats = reward_examples(held_pairs, tokenizer, cfg.data) if held_pairs else (None, None)
    if not train:
        raise DataError(f"no training pair left ({train_stats.as_dict()}); check the data and data.max_length")
    return train, held, {"train": train_stats.as_dict(), "eval": held_stats.as_dict() if held_stats else None}


def _describe(s: dict) -> str:
    return (f"data: {s['kept']} training pairs ({s['truncated']} texts truncated, "
            f"{s['dropped_identical']} pairs dropped as identical after truncation)")


def _set_pad(model, tokenizer):
    # Sequence-classification heads read the last non-pad token of each row, so they need the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _save_meta(folder: Path, cfg: Config, tokenizer, info: dict) -> None:
    atomic_write_json(folder / REWARD_META, {
        "chat_template": chat_template_for(cfg.data, tokenizer), "chat": bool(cfg.data.chat or info.get("chat")),
        "max_length": cfg.data.max_length, "trained_on": cfg.data.dataset,
    })


def run_rm(cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    info: dict = {}
    method = OfflineMethod(
        RewardModelTraining(cfg.rm.margin, cfg.rm.margin_scale),
        lambda c, tok: prepare_rm_data(c, tok, info), _describe, head="reward", prepare_model=_set_pad,
        save_extras=lambda folder, c, tok: _save_meta(folder, c, tok, info),
    )
    result = run_offline(cfg, method, command, resume)
    result["hint"] = f"use it as a scorer: reward.scorer=reward_model:{result['run_dir']}"
    return result
