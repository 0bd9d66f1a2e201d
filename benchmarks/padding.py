"""Padding of every offline verb's batches, and the cost of a metrics record with and without fsync, side by side.

    python benchmarks/padding.py                 # the built-in task, each verb's preset batch size
    python benchmarks/padding.py --batch-size 8  # another batch size

Padding: the training examples of `sft/reviews-tiny`, `dpo/reviews-tiny` (on `builtin:reviews-prefs`) and
`rm/reviews-tiny` (built-in data and tokenizer), batched by the same length-grouped sampler as training (seed 0, one epoch), collated once as one
padded tensor per batch (chosen and rejected sharing its width) and once as forward groups (`data.batching`,
padding ≤ 5 %): padded positions ÷ all positions, and forward passes per batch.
Metrics I/O: 500 records appended with `append_line(sync=True)` (the old per-record fsync) and `sync=False`
(now: one write per record, fsync at checkpoints), in the same folder, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def padding(verb: str, batch_size: int | None) -> dict:
    from alignlab.algorithms.reward_model import pair_collate
    from alignlab.config import load_config
    from alignlab.data.batching import (
        LengthGroupedBatchSampler,
        batch_tokens,
        pad_collate,
        preference_collate,
    )
    from alignlab.pipelines.builtins import ensure_builtins
    from alignlab.pipelines.common import load_policy

    data = ["data.dataset=builtin:reviews-prefs"] if verb == "dpo" else []  # pairs that need no `alignlab pairs` run
    cfg = load_config(f"{verb}/reviews-tiny", ["model.device=cpu", "logging.progress=false",
                                                "model.name_or_path=builtin:reviews-tiny", *data])
    ensure_builtins(cfg)  # builds the built-in model and data the first time (as every CLI verb does)
    _, tok = load_policy(cfg, verbose=False, head="reward" if verb == "rm" else "causal_lm")
    if verb == "sft":
        from alignlab.pipelines.sft import prepare_sft_data

        examples = prepare_sft_data(cfg, tok)[0]
        lengths = [len(e["input_ids"]) for e in examples]
        collates = {"one tensor": pad_collate(tok.pad_token_id)}
    elif verb == "dpo":
        from alignlab.pipelines.dpo import prepare_dpo_data

        examples = prepare_dpo_data(cfg, tok)[0]
        lengths = [max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples]
        collates = {"one tensor": preference_collate(tok.pad_token_id, max_padding=None),
                    "forward groups": preference_collate(tok.pad_token_id)}
    else:
        from alignlab.pipelines.reward_model import prepare_rm_data

        examples = prepare_rm_data(cfg, tok, {})[0]
        lengths = [max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples]
        collates = {"one tensor": pair_collate(tok.pad_token_id, max_padding=None),
                    "forward groups": pair_collate(tok.pad_token_id)}
    size = batch_size or cfg.train.batch_size
    batches = list(LengthGroupedBatchSampler(lengths, size, seed=0))
    out = {"verb": verb, "batch_size": size, "examples": len(examples)}
    for name, collate in collates.items():
        real = padded = forwards = 0
        for idx in batches:
            batch = collate([examples[i] for i in idx])
            r, p = batch_tokens(batch)
            real, padded, forwards = real + r, padded + p, forwards + len(batch.get("groups", [batch]))
        out[name] = {"padding": round(1 - real / padded, 4), "forwards_per_batch": round(forwards / len(batches), 2)}
    return out


def metrics_io(records: int = 500) -> dict:
    from alignlab.runs.atomic import append_line

    line = '{"step": 1, "split": "train", "loss": 0.693147, "grad_norm": 1.23, "lr": 1e-05, "tokens": 376}'
    times = {True: [], False: []}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for i in range(records):
            for sync in (True, False) if i % 2 == 0 else (False, True):
                t0 = time.perf_counter()
                append_line(Path(tmp) / f"m-{sync}.jsonl", line, sync=sync)
                times[sync].append(time.perf_counter() - t0)
    return {"fsync per record ms": round(1e3 * statistics.median(times[True]), 3),
            "write only ms": round(1e3 * statistics.median(times[False]), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=None)
    args = ap.parse_args()
    print("| verb | batch | one padded tensor | forward groups (≤ 5 %) | forwards per batch |\n|---|---|---|---|---|")
    for verb in ("sft", "dpo", "rm"):
        r = padding(verb, args.batch_size)
        grouped = r.get("forward groups")
        print(f"| {verb} | {r['batch_size']} | {100 * r['one tensor']['padding']:.1f} % | "
              + (f"{100 * grouped['padding']:.1f} % | {grouped['forwards_per_batch']} |" if grouped
                 else "– (one reply per row) | 1 |"))
    print(f"\nmetrics record, median of 500: {metrics_io()}")


if __name__ == "__main__":
    main()
