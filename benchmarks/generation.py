"""Ways to run a rollout's generation, side by side on the same model, prompts and seeds.

    python benchmarks/generation.py                      # the large fixture model of compare.py (built there)
    python benchmarks/generation.py --variants default,onednn --repeats 5

The work of one RL iteration of `compare.py`: 2 prompts × k = 4 samples, 32 new tokens (min_new_tokens = 32, so
every variant generates the same number of tokens), temperature 1, with `output_logits` as the rollout engine
asks. Variants, each in a fresh process, repeats interleaved in alternating order:

- `default`: what alignlab runs (transformers `generate`, dynamic KV cache);
- `onednn`: the same with `model.onednn_linear=true` (linear layers on oneDNN's fp32 GEMM);
- `static`: a static KV cache (`cache_implementation="static"`);
- `static-compile`: a static cache with the forward compiled (`torch.compile`, the first calls pay for it).

Prints the median seconds per `generate` call over calls 3..N and, for the compiled variant, the first call.
Not part of the test suite (timings belong in benchmarks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("default", "onednn", "static", "static-compile")
PROMPTS, K, NEW_TOKENS = 2, 4, 32


def child(variant: str, workdir: Path, calls: int) -> dict:
    import torch
    from transformers import AutoTokenizer

    from alignlab.config.common import GenerationConfig, ModelConfig
    from alignlab.generation.sample import hf_generation_config
    from alignlab.models.loading import load_model

    model = load_model(ModelConfig(name_or_path=str(workdir / "model-large"), device="cpu",
                                   onednn_linear=variant == "onednn")).eval()
    tok = AutoTokenizer.from_pretrained(workdir / "tokenizer")
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    rows = [json.loads(x) for x in (workdir / "prompts.jsonl").read_text().splitlines()][:PROMPTS]
    batch = tok([r["prompt"] for r in rows], return_tensors="pt", padding=True)
    gen = hf_generation_config(GenerationConfig(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS), tok, K)
    extra = {"output_logits": True, "return_dict_in_generate": True}
    if variant.startswith("static"):
        extra["cache_implementation"] = "static"
    if variant == "static-compile":
        model.forward = torch.compile(model.forward, dynamic=False)
    times = []
    with torch.no_grad():
        for i in range(calls):
            torch.manual_seed(i)
            start = time.perf_counter()
            out = model.generate(**batch, generation_config=gen, **extra)
            times.append(time.perf_counter() - start)
            assert out.sequences.shape[1] - batch["input_ids"].shape[1] == NEW_TOKENS
    return {"s_per_generate": statistics.median(times[2:]), "first_s": round(times[0], 2), "calls": calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=10, help="generate calls per process")
    ap.add_argument("--workdir", type=Path, default=Path(".bench-fixtures"))
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.workdir, args.calls)))
        return
    if not (args.workdir / "model-large").is_dir():
        sys.exit(f"no fixtures in {args.workdir}: run `python benchmarks/compare.py --workloads sft --repeats 1` first")
    variants = args.variants.split(",")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(args.repeats):
        for v in variants if r % 2 == 0 else variants[::-1]:
            out = subprocess.run([sys.executable, __file__, "--child", v, "--calls", str(args.calls),
                                  "--workdir", str(args.workdir)], capture_output=True, text=True)
            lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            runs[v].append(json.loads(lines[-1][7:]) if lines else {"error": out.stderr.strip()[-300:]})
            print(f"  {v} #{r + 1}: {json.dumps(runs[v][-1])}", flush=True)
    print("| variant | s per generate (median of repeats) | first call s |\n|---|---|---|")
    for v, rs in runs.items():
        ok = [x for x in rs if "error" not in x]
        if not ok:
            print(f"| {v} | error | - |")
            continue
        print(f"| {v} | {statistics.median(x['s_per_generate'] for x in ok):.4f} | "
              f"{statistics.median(x['first_s'] for x in ok):.2f} |")


if __name__ == "__main__":
    main()
