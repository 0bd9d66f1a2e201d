"""Length-grouped batching and padding.

Random batches from a realistic length mix waste a large share of compute on padding. The sampler
shuffles with (seed, epoch), cuts the order into mega-batches, sorts each by length and splits it into
batches, then shuffles the batch order: batches are near-uniform in length, the epoch stays random and
any run with the same seed sees the same batches.
"""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

from alignlab.data.sft import IGNORE


class LengthGroupedBatchSampler(Sampler[list[int]]):
    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_by_length: bool = True,
                 shuffle: bool = True, mega_batch_mult: int = 50):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.group_by_length, self.shuffle, self.mega = group_by_length, shuffle, mega_batch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.lengths)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        if not self.group_by_length:
            yield from (order[i:i + self.batch_size] for i in range(0, n, self.batch_size))
            return
        size = self.batch_size * self.mega
        batches = []
        for start in range(0, n, size):
            chunk = sorted(order[start:start + size], key=lambda i: -self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        perm = torch.randperm(len(batches), generator=g).tolist() if self.shuffle else range(len(batches))
        yield from (batches[i] for i in perm)


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to one width: (input_ids [N, T], attention_mask [N, T])."""
    return pad_side(seqs, pad_id, "right"), pad_side([[1] * len(s) for s in seqs], 0, "right")


def pad_side(seqs: list[list[int]], value: int, side: str = "right") -> torch.Tensor:
    """Pad int lists to one width on the given side → [N, T] long."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for row, s in enumerate(seqs):
        span = slice(width - len(s), width) if side == "left" else slice(0, len(s))
        out[row, span] = torch.tensor(s, dtype=torch.long)
    return out


def preference_collate(pad_id: int, padding_side: str = "right"):
    """Pairs → input_ids, attention_mask and loss_mask [2B, T] (chosen rows first, then rejected), plus
    ref_logps [2B] when the examples carry precomputed reference log-probs. loss_mask marks reply tokens."""
    def collate(examples: list[dict]) -> dict[str, torch.Tensor]:
        seqs = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
        masks = [e["chosen_mask"] for e in examples] + [e["rejected_mask"] for e in examples]
        batch = {"input_ids": pad_side(seqs, pad_id, padding_side),
                 "attention_mask": pad_side([[1] * len(s) for s in seqs], 0, padding_side),
                 "loss_mask": pad_side(masks, 0, padding_side)}
        if "ref_chosen" in examples[0]:
            batch["ref_logps"] = torch.tensor([e["ref_chosen"] for e in examples]
                                              + [e["ref_rejected"] for e in examples], dtype=torch.float32)
        return batch
    return collate


def pad_collate(pad_id: int, padding_side: str = "right"):
    """Collate {"input_ids", "labels"} lists into padded tensors plus an attention mask."""
    def collate(examples: list[dict]) -> dict[str, torch.Tensor]:
        ids = [e["input_ids"] for e in examples]
        return {"input_ids": pad_side(ids, pad_id, padding_side),
                "labels": pad_side([e["labels"] for e in examples], IGNORE, padding_side),
                "attention_mask": pad_side([[1] * len(s) for s in ids], 0, padding_side)}
    return collate
