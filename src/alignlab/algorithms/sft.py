"""SFT as a plug-in of the offline loop: batch → token NLL; held-out loss and perplexity.

Log-probs come from `algorithms.logprobs.token_stats`: the backbone runs on the whole sequence, but the vocabulary
projection only at target (completion) positions, chunked, so prompt and pad positions never get [V] logits.
"""

from __future__ import annotations

import math

import torch

from alignlab.algorithms.logprobs import token_stats
from alignlab.data.batching import pad_collate
from alignlab.losses.sft import IGNORE, token_nll


class SFT:
    name = "sft"

    def __init__(self, label_smoothing: float = 0.0, chunk_tokens: int = 1024):
        self.label_smoothing, self.chunk_tokens = label_smoothing, chunk_tokens

    def begin_step(self, step: int, total: int) -> None:
        """Nothing moves per optimizer step."""

    @staticmethod
    def example_length(example: dict) -> int:
        return len(example["input_ids"])

    @staticmethod
    def collate(pad_id: int):
        return pad_collate(pad_id)

    def weight(self, batch: dict) -> int:
        """Target tokens in the batch: the loss of an accumulation window is divided by their total."""
        return int((batch["labels"][:, 1:] != IGNORE).sum())

    def _nll(self, model, batch: dict, label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed NLL, target token count) of a batch."""
        stats = token_stats(model, batch["input_ids"], batch["attention_mask"], batch["labels"] != IGNORE,
                            self.chunk_tokens, mean_logp=bool(label_smoothing))  # [B, T-1] each
        return token_nll(stats.logps, stats.mean_logp, label_smoothing), stats.mask.sum()

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        return self._nll(model, batch, self.label_smoothing)[0], {}

    @torch.no_grad()
    def evaluate(self, model, batches, accelerator) -> dict[str, float]:
        total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
        for batch in batches:
            nll, tokens = self._nll(model, batch, 0.0)  # no smoothing: report the true NLL
            total += torch.stack([nll.double(), tokens.double()])
        total = accelerator.reduce(total, reduction="sum")
        loss = (total[0] / total[1].clamp(min=1)).item()
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
