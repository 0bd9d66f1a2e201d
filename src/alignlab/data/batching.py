"""Length-grouped batching and padding.

Random batches from a realistic length mix waste a large share of compute on padding. The sampler
shuffles with (seed, epoch), cuts the order into mega-batches, sorts each by length and splits it into
batches, then shuffles the batch order: batches are near-uniform in length, the epoch stays random and
any run with the same seed sees the same batches.

Pair batches (chosen and rejected) are still uneven inside a batch: a short rejected reply padded to the width
of a long chosen one. Their collates therefore cut the 2B sequences, sorted by length, into the fewest forward
groups whose padding is at most `MAX_PADDING` of the tokens (`length_groups`); each group is padded to its own
width and runs as its own forward pass. The batch then holds `groups` (each with the usual input_ids,
attention_mask, loss_mask) and `order`, which puts the concatenated per-group outputs back into the
[chosen_1..B, rejected_1..B] order (`batch_rows`, `regroup`).
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


MAX_PADDING = 0.05
"""Largest share of padded positions in a pair batch's forward groups (fewer groups are used when they reach it)."""


def length_groups(lengths: list[int], max_padding: float = MAX_PADDING) -> list[list[int]]:
    """Indices of `lengths` cut into the fewest groups whose padded size Σ |g|·max(g) has at most `max_padding`
    padding; for that number of groups the cut with the least padding (exact dynamic programme over the
    length-sorted order). max_padding=1 gives one group."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # longest first
    lens = [lengths[i] for i in order]
    n, real = len(lens), sum(lens)
    # best[j]: least padded size of lens[:j] in k groups; cut[k][j]: where the last of those groups starts
    best = [0] + [j * lens[0] for j in range(1, n + 1)]  # k = 1
    cuts = [[0] * (n + 1)]
    while best[n] - real > max_padding * best[n]:
        nxt, cut = [0] + [float("inf")] * n, [0] * (n + 1)
        for j in range(1, n + 1):
            for i in range(j):  # the last group is lens[i:j], padded to lens[i]
                c = best[i] + (j - i) * lens[i]
                if c < nxt[j]:
                    nxt[j], cut[j] = c, i
        best = nxt
        cuts.append(cut)
    bounds, j = [], n
    for cut in reversed(cuts):
        i = cut[j]
        bounds.append((i, j))
        j = i
        if j == 0:
            break
    return [order[a:b] for a, b in reversed(bounds)]


def pad_rows(rows: dict[str, list[list[int]]], pad: dict[str, int], padding_side: str,
             max_padding: float | None) -> dict:
    """Equal-length lists of int sequences per name (the first name sets the lengths) → {name: [N, T]} padded
    with `pad[name]` when max_padding is None, else forward groups {"groups": [{name: [n_g, T_g]}], "order": [N]}."""
    if max_padding is None:
        return {name: pad_side(seqs, pad[name], padding_side) for name, seqs in rows.items()}
    lengths = [len(s) for s in next(iter(rows.values()))]
    groups = length_groups(lengths, max_padding)
    flat = [i for g in groups for i in g]
    order = torch.empty(len(flat), dtype=torch.long)
    order[torch.tensor(flat, dtype=torch.long)] = torch.arange(len(flat))
    return {"groups": [{name: pad_side([seqs[i] for i in g], pad[name], padding_side) for name, seqs in rows.items()}
                       for g in groups], "order": order}


def regroup(outputs: list[torch.Tensor], batch: dict) -> torch.Tensor:
    """Per-group outputs (first dimension = the group's rows) → one tensor in the batch's original row order."""
    return torch.cat(outputs)[batch["order"]] if "groups" in batch else outputs[0]


def forward_groups(batch: dict) -> list[dict]:
    """The padded tensors each forward pass of a batch takes: its groups, or the batch itself."""
    return batch["groups"] if "groups" in batch else [batch]


def batch_rows(batch: dict) -> int:
    """Sequences in a batch (2B for a pair batch)."""
    return len(batch["order"]) if "groups" in batch else batch["input_ids"].shape[0]


def batch_tokens(batch: dict) -> tuple[int, int]:
    """(real tokens, padded positions) of a batch, over its forward groups."""
    masks = [g["attention_mask"] for g in forward_groups(batch)]
    return int(sum(m.sum() for m in masks)), sum(m.numel() for m in masks)


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


def preference_collate(pad_id: int, padding_side: str = "right", max_padding: float | None = MAX_PADDING):
    """Pairs → input_ids, attention_mask and loss_mask for 2B rows (chosen rows first, then rejected), plus
    ref_logps [2B] when the examples carry precomputed reference log-probs. loss_mask marks reply tokens.
    With `max_padding` the rows come as forward groups (see the module docstring); with None as one [2B, T]
    tensor each."""
    def collate(examples: list[dict]) -> dict[str, torch.Tensor]:
        seqs = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
        masks = [e["chosen_mask"] for e in examples] + [e["rejected_mask"] for e in examples]
        rows = {"input_ids": seqs, "attention_mask": [[1] * len(s) for s in seqs], "loss_mask": masks}
        pads = {"input_ids": pad_id, "attention_mask": 0, "loss_mask": 0}
        batch = pad_rows(rows, pads, padding_side, max_padding)
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
