"""Benchmark the reference strategies of `train dpo` side by side, in one process and one run.

    python benchmarks/reference_modes.py                  # copy vs precomputed (cold cache, warm cache)
    python benchmarks/reference_modes.py --lora 8         # adds LoRA: adapter vs copy (memory of a 2nd copy)
    python benchmarks/reference_modes.py --model PATH     # any model (e.g. a GGUF or Hub folder) instead

Each mode trains the same preset on the same pairs for the same epochs (periodic evaluation off, so the
timings are the training loop). Reported per mode: seconds per epoch, the precompute pass, reference passes
during training, parameters of an extra reference model, and peak memory (CUDA max allocated on a GPU,
otherwise the growth of the process's peak resident memory during the run). Results: printed and --out JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import torch
import transformers

from alignlab.config import load_config
from alignlab.pipelines.dpo import run_dpo

STATUS = Path("/proc/self/status")


def _reset_peak() -> int:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    Path("/proc/self/clear_refs").write_text("5")
    return int(re.search(r"VmRSS:\s+(\d+)", STATUS.read_text()).group(1)) * 1024


def _peak(start: int) -> int:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() - start
    return int(re.search(r"VmHWM:\s+(\d+)", STATUS.read_text()).group(1)) * 1024 - start


def _train_seconds(run_dir: Path) -> float:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    start = next(r["time"] for r in rows if r["split"] == "eval" and r["step"] == 0)
    end = max(r["time"] for r in rows if r["split"] == "train")
    return end - start


def run_mode(label: str, overrides: list[str], args, workdir: Path) -> dict:
    cfg = load_config("dpo/reviews-tiny", [
        f"model.name_or_path={args.model}", f"data.max_train_samples={args.pairs}", f"train.epochs={args.epochs}",
        "data.max_eval_samples=64", "train.eval_every=null", "train.eval_train_samples=0", "train.save_every=null",
        "logging.report_to=[]", f"run_dir={workdir / label}", f"ref.cache_dir={workdir / 'cache'}", *overrides])
    start = _reset_peak()
    t0 = time.perf_counter()
    result = run_dpo(cfg, command=f"benchmark {label}")
    total = time.perf_counter() - t0
    ref = result["reference"]
    return {"mode": label, "epochs": args.epochs, "pairs": args.pairs,
            "seconds_per_epoch": round(_train_seconds(workdir / label) / args.epochs, 2),
            "precompute_seconds": round(ref.get("train_seconds", 0.0) + ref.get("eval_seconds", 0.0), 2),
            "cache": ref.get("train_cache", "-"), "reference_passes": result["reference_passes"],
            "extra_model_params": ref.get("extra_model_params", 0), "peak_memory_mib": round(_peak(start) / 2**20, 1),
            "total_seconds": round(total, 1), "heldout_accuracy": round(result["eval"]["accuracy"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="builtin:reviews-tiny-sft")
    ap.add_argument("--pairs", type=int, default=1500, help="training pairs")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lora", type=int, default=0, help="also compare LoRA adapter vs copy at this rank")
    ap.add_argument("--only-lora", action="store_true", help="run only the LoRA modes (a memory check)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()
    modes = [] if args.only_lora else [("copy", ["ref.mode=copy"]), ("precomputed-cold", ["ref.mode=precomputed"]),
                                       ("precomputed-warm", ["ref.mode=precomputed"])]
    if args.lora:
        modes += [("lora-adapter", [f"lora.r={args.lora}", "ref.mode=adapter"]),
                  ("lora-copy", [f"lora.r={args.lora}", "ref.mode=copy"])]
    if args.only_lora:  # the first run of a process also pays for imports and data caches: repeat it last
        modes += [("lora-adapter-again", [f"lora.r={args.lora}", "ref.mode=adapter"])]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_mode(label, overrides, args, Path(tmp)) for label, overrides in modes]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"\nreference modes, {args.pairs} pairs x {args.epochs} epochs, {args.model} on {device}")
    cols = list(results[0])
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r[c]) for c in cols))
    if args.out:
        args.out.write_text(json.dumps({"device": device, "results": results}, indent=2))


if __name__ == "__main__":
    main()
