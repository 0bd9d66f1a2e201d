"""Model-based scorers: a trained reward model (`reward_model:PATH`) or one label of any sequence classifier
(`classifier:NAME_OR_PATH:LABEL`). Both read prompt + completion, rendered exactly as `train rm` renders
its training pairs, so a reward model scores at inference what it saw in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from alignlab.config.common import ModelConfig, RewardConfig
from alignlab.config.errors import ConfigError
from alignlab.data.batching import pad_right
from alignlab.data.preference import encode_for_reward, render_for_reward
from alignlab.models.loading import adapter_base, load_model, load_tokenizer, model_source
from alignlab.rewards.base import resolve_device

REWARD_META = "alignlab_reward.json"
"""Written next to a trained reward model: how its inputs were rendered (chat template, max length)."""


def load_classifier(path: str, head: str, device: str = "auto"):
    """(model, tokenizer, meta) of a sequence classifier folder, Hub id, adapter folder or run directory."""
    source = model_source(path)
    mcfg = ModelConfig(name_or_path=source, device=device)
    tokenizer = load_tokenizer(mcfg)
    model = load_model(mcfg, head=head).to(resolve_device(device)).eval()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id  # needed to find each row's last real token
    meta_file = Path(source) / REWARD_META
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    return model, tokenizer, meta


@torch.no_grad()
def logits_of(model, tokenizer, prompts, completions, meta: dict, max_length: int) -> torch.Tensor:
    """[batch, num_labels] logits of rendered prompt+completion texts (right-padded, left-truncated)."""
    template, chat = meta.get("chat_template"), meta.get("chat", False)
    texts = [render_for_reward(p, c, tokenizer, template, chat) for p, c in zip(prompts, completions, strict=True)]
    ids, _ = encode_for_reward(texts, tokenizer, max_length)
    input_ids, mask = pad_right(ids, tokenizer.pad_token_id)
    device = next(model.parameters()).device
    return model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits.float()


def reward_model(path: str, cfg: RewardConfig, device: str = "auto"):
    """The scalar output of a reward model trained by `alignlab train rm` (or any num_labels=1 classifier)."""
    # A full model loads with the head it was saved with (so a wrong model is detected, not re-initialised);
    # a LoRA adapter's base has no head yet and gets the one-output head its saved `score` weights fit.
    head = "reward" if adapter_base(model_source(path)) else "classifier"
    model, tokenizer, meta = load_classifier(path, head, device)
    if model.config.num_labels != 1:
        raise ConfigError(f"reward.scorer: '{path}' has {model.config.num_labels} labels; a reward model has one "
                          "(use classifier:PATH:LABEL for a multi-label classifier)")
    max_length = meta.get("max_length", cfg.max_length)

    def score(prompts: list[str], completions: list[str]) -> torch.Tensor:
        return logits_of(model, tokenizer, prompts, completions, meta, max_length)[:, 0]
    return score


def label_index(config, label: str) -> int:
    """A label name (case-insensitive, from the model's label2id) or an integer index."""
    by_name = {str(k).lower(): int(v) for k, v in (config.label2id or {}).items()}
    if label.lower() in by_name:
        return by_name[label.lower()]
    if label.lstrip("-").isdigit() and -config.num_labels <= int(label) < config.num_labels:
        return int(label) % config.num_labels
    raise ConfigError(f"reward.scorer: classifier has no label '{label}'; labels: {', '.join(by_name) or 'none'} "
                      f"(or an index below {config.num_labels})")


def classifier(path: str, label: str, cfg: RewardConfig, device: str = "auto"):
    """The logit of one label of a sequence classifier (study A: lvwerra/distilbert-imdb, label POSITIVE)."""
    model, tokenizer, meta = load_classifier(path, "classifier", device)
    idx = label_index(model.config, label)

    def score(prompts: list[str], completions: list[str]) -> torch.Tensor:
        return logits_of(model, tokenizer, prompts, completions, meta, cfg.max_length)[:, idx]
    return score
