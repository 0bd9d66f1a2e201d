"""SFT as a plug-in of the offline loop: batch → token NLL; held-out loss and perplexity."""

from __future__ import annotations

import math

import torch

from alignlab.data.batching import pad_collate
from alignlab.losses.sft import IGNORE, causal_lm_nll


class SFT:
    name = "sft"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

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

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss, _ = causal_lm_nll(logits, batch["labels"], self.label_smoothing)
        return loss, {}

    @torch.no_grad()
    def evaluate(self, model, batches, accelerator) -> dict[str, float]:
        total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
        for batch in batches:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            nll, m = causal_lm_nll(logits, batch["labels"])  # no smoothing: report the true NLL
            total += torch.stack([nll.double(), m["tokens"].double()])
        total = accelerator.reduce(total, reduction="sum")
        loss = (total[0] / total[1].clamp(min=1)).item()
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
