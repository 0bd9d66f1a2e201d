"""Reward-model training as a plug-in of the offline loop: pairs → one forward → Bradley–Terry.

Chosen and rejected sequences of a batch ([chosen_1..chosen_B, rejected_1..rejected_B]) run in as few forward
passes as keep padding under `data.batching.MAX_PADDING` (usually one or two); the scalar head's outputs are put
back in order and split into r_c, r_r.
"""

from __future__ import annotations

import torch

from alignlab.data.batching import MAX_PADDING, batch_rows, forward_groups, pad_rows, regroup
from alignlab.losses.reward import bradley_terry


def pair_collate(pad_id: int, max_padding: float | None = MAX_PADDING):
    """[{"chosen_ids", "rejected_ids", "score_gap"}] → input_ids and attention_mask of 2B right-padded rows (as
    forward groups with `max_padding`, else one [2B, T] tensor each), score_gap [B]."""
    def collate(examples: list[dict]) -> dict:
        seqs = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
        batch = pad_rows({"input_ids": seqs, "attention_mask": [[1] * len(s) for s in seqs]},
                         {"input_ids": pad_id, "attention_mask": 0}, "right", max_padding)
        batch["score_gap"] = torch.tensor([e["score_gap"] for e in examples], dtype=torch.float32)
        return batch
    return collate


def pair_rewards(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(r_c, r_r), each [B], from one forward pass over the stacked pair batch."""
    rewards = regroup([model(input_ids=g["input_ids"], attention_mask=g["attention_mask"]).logits[:, 0]
                       for g in forward_groups(batch)], batch)  # [2B]
    return rewards.float().chunk(2)


class RewardModelTraining:
    name = "rm"

    def __init__(self, margin: float = 0.0, margin_scale: float = 0.0):
        self.margin, self.margin_scale = margin, margin_scale

    def begin_step(self, step: int, total: int) -> None:
        """Nothing moves per optimizer step."""

    @staticmethod
    def example_length(example: dict) -> int:
        return max(len(example["chosen_ids"]), len(example["rejected_ids"]))

    @staticmethod
    def collate(pad_id: int):
        return pair_collate(pad_id)

    def weight(self, batch: dict) -> int:
        return batch_rows(batch) // 2  # pairs

    def _margin(self, batch: dict) -> torch.Tensor:
        return self.margin + self.margin_scale * batch["score_gap"]  # [B]

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        chosen, rejected = pair_rewards(model, batch)
        loss, m = bradley_terry(chosen, rejected, self._margin(batch))
        return loss, {"accuracy": m["correct"], "margin": m["margin"]}

    @torch.no_grad()
    def evaluate(self, model, batches, accelerator) -> dict[str, float]:
        """Pair accuracy (r_c > r_r), mean margin, loss, and the mean/std of all rewards."""
        # sums of: pairs, loss, correct, margin, reward, reward²
        total = torch.zeros(6, dtype=torch.float64, device=accelerator.device)
        for batch in batches:
            chosen, rejected = pair_rewards(model, batch)
            loss, m = bradley_terry(chosen, rejected, self._margin(batch))
            both = torch.cat([chosen, rejected]).double()
            total += torch.stack([torch.tensor(float(len(chosen)), dtype=torch.float64, device=total.device),
                                  loss.double(), m["correct"].double(), m["margin"].double(), both.sum(),
                                  both.pow(2).sum()])
        total = accelerator.reduce(total, reduction="sum")
        n, loss, correct, margin, r_sum, r_sq = total.tolist()
        n = max(n, 1.0)
        mean = r_sum / (2 * n)
        return {"loss": loss / n, "accuracy": correct / n, "margin": margin / n, "reward_mean": mean,
                "reward_std": max(r_sq / (2 * n) - mean * mean, 0.0) ** 0.5}
