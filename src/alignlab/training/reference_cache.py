"""ref.mode=precomputed: reference log-probs computed in one pass before training, kept in a persistent cache.

The cache file is keyed by a fingerprint of everything the numbers depend on: the reference weights (hashed by
content), the tokenizer, the tokenised pairs (which capture the dataset content, max lengths and chat template),
those settings themselves and the compute precision. Any change gives a new key, so stale values are never read;
an identical setting (later epochs, resumed runs, other runs of a sweep) reads the file instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alignlab.algorithms.reference import weights_fingerprint
from alignlab.data.sft import fingerprint
from alignlab.runs.atomic import atomic_save
from alignlab.runs.progress import progress_bar

PAIR_FIELDS = ("chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask")


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    payload = json.dumps([type(tokenizer).__name__, vocab, tokenizer.all_special_tokens], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def reference_identity(strategy, model, tokenizer, settings: dict) -> dict:
    """Everything but the pairs that the values depend on: reference weights, tokenizer and settings such as
    lengths and template. Hashing the weights reads them all, so a run computes this once for all its splits."""
    return {"reference": weights_fingerprint(strategy.tensors(model)), "tokenizer": tokenizer_fingerprint(tokenizer),
            **settings}


def cache_key(identity: dict, examples: list[dict]) -> str:
    """The fingerprint of (reference identity, content of the tokenised pairs)."""
    parts = identity | {"pairs": fingerprint([{k: e[k] for k in PAIR_FIELDS} for e in examples])}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class ReferenceCache:
    """One safetensors file per key: tensors `chosen` and `rejected` [N] fp32, plus metadata."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"ref-{key}.safetensors"

    def load(self, key: str, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.path(key).is_file():
            return None
        values = load_file(str(self.path(key)))
        if values["chosen"].shape[0] != n:  # only a hash collision could do this; never use such a file
            return None
        return values["chosen"], values["rejected"]

    def save(self, key: str, chosen: torch.Tensor, rejected: torch.Tensor, meta: dict) -> None:
        tensors = {"chosen": chosen.float().contiguous(), "rejected": rejected.float().contiguous()}
        atomic_save(self.path(key), lambda tmp: save_file(tensors, tmp, metadata={k: str(v) for k, v in meta.items()}))


def compute_reference(strategy, model, examples: list[dict], collate, batch_size: int, accelerator, chunk: int,
                      title: str, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference log-probs (chosen [N], rejected [N]) of every pair; processes split the pairs between them."""
    from accelerate.utils import gather_object, send_to_device

    mine = list(range(accelerator.process_index, len(examples), accelerator.num_processes))
    mine.sort(key=lambda i: -max(len(examples[i]["chosen_ids"]), len(examples[i]["rejected_ids"])))  # less padding
    batches = [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]
    results = []
    with progress_bar(title, len(batches), enabled=progress and accelerator.is_main_process) as bar:
        for k, idx in enumerate(batches):
            batch = send_to_device(collate([examples[i] for i in idx]), accelerator.device)
            with accelerator.autocast():
                chosen, rejected = strategy.logps(model, batch, chunk).float().chunk(2)
            results += list(zip(idx, chosen.tolist(), rejected.tolist(), strict=True))
            bar.update(k + 1)
    if accelerator.num_processes > 1:
        results = gather_object(results)
    out = torch.zeros(2, len(examples))
    for i, c, r in results:
        out[0, i], out[1, i] = c, r
    return out[0], out[1]


def attach(examples: list[dict], chosen: torch.Tensor, rejected: torch.Tensor) -> None:
    """Store each pair's reference log-probs on the example; the collate function batches them as ref_logps."""
    for e, c, r in zip(examples, chosen.tolist(), rejected.tolist(), strict=True):
        e["ref_chosen"], e["ref_rejected"] = c, r


def cached_reference(cache: ReferenceCache, key: str, compute, n: int, accelerator, meta: dict
                     ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(chosen, rejected, info) from the cache, or computed and stored. info: hit, seconds, path."""
    t0 = time.perf_counter()
    found = cache.load(key, n)
    accelerator.wait_for_everyone()  # every process has looked before anyone writes
    if found is not None:
        return *found, {"hit": True, "seconds": time.perf_counter() - t0, "path": str(cache.path(key))}
    chosen, rejected = compute()
    if accelerator.is_main_process:
        cache.save(key, chosen, rejected, meta | {"pairs": n})
    accelerator.wait_for_everyone()
    return chosen, rejected, {"hit": False, "seconds": time.perf_counter() - t0, "path": str(cache.path(key))}
