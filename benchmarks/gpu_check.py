"""Device check: every training path of a GPU user, a few steps each, with speed, memory and MFU.

    python benchmarks/gpu_check.py                       # on the GPU: an 88M-parameter Llama, bf16, 10 steps per part
    python benchmarks/gpu_check.py --device cpu          # the same code on CPU (a tiny model unless --size 100m)
    python benchmarks/gpu_check.py --parts sft,rloo --steps 4 --out check.json

Needs only alignlab and what it installs (torch, transformers, peft, accelerate); nothing is downloaded. It
builds its own fixtures in --workdir (the tokenizer and data of `benchmarks/compare.py`, plus a random-init
Llama: 12 layers × 768, 12 heads, MLP 2048, about 88M parameters with its 2k-token vocabulary; `--size tiny`
is 2 × 64), then trains each part in a fresh process through alignlab's own pipelines (`train sft`, `train dpo`,
`train rloo`: the code a user runs) for --steps optimizer steps (RL: iterations), 8 sequences per step:

- `sft`: full fine-tuning, completion-only loss;
- `dpo-copy`: DPO with a frozen copy of the policy as reference;
- `dpo-adapter`: DPO with a LoRA adapter (r=8, all linear layers), the reference being the adapter switched off;
- `rloo`: RLOO, 2 prompts × k=4 sampled replies of 32 tokens, a KL penalty to the reference;
- `sft-flash-attn2`: `sft` with `model.attn_implementation=flash_attention_2` (only where `flash_attn` imports
  and a CUDA device is present; otherwise SKIPPED with the reason);
- `dpo-qlora`: `dpo-adapter` on 4-bit NF4 base weights (`model.load_in_4bit`; only with bitsandbytes and CUDA).

Weights are `model.dtype=auto` (bfloat16 on a GPU that has it, float32 on CPU; `--dtype` overrides), attention
SDPA unless the part says otherwise. Per part it prints s/step (median over steps 3..N), tokens/s, peak memory
(GPU: `torch.cuda.max_memory_allocated`; CPU: the process's peak resident memory) and MFU = model FLOPs per
second ÷ the chip's dense bf16 peak. Model FLOPs count the matrix products the step must do, with N the
parameters outside the input embedding: 6N per trained token (forward and backward), 2N per token of a reference
forward (DPO: 8N per token with a copy, 6N with an adapter, whose backward skips the frozen weights' gradients), and
for RLOO 2N per generated token plus 8N per reply token trained and scored (prompt tokens are left out, so RLOO's
MFU is a lower bound). Attention's sequence-length term is left out (about 2 % at these lengths). The peak comes
from `--peak-tflops` or the GPU's name (H100 / H200 SXM 989, H100 PCIe 756, A100 312, L40S 362, L4 121, A10 125
TFLOP/s); on CPU, or an unknown GPU, MFU is "-". Exits 1 when any part fails, 0 when every part passes or is
skipped with its reason. Not part of the test suite's timings (the smoke tier runs it on CPU for 2 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import _median_step, _ours_config, _ours_runner, _peak_rss_mib, build_fixtures  # noqa: E402

PARTS = ("sft", "dpo-copy", "dpo-adapter", "rloo", "sft-flash-attn2", "dpo-qlora")
SIZES = {"100m": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 12},
         "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}}
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0), ("A100", 312.0),
                    ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0))
"""Dense bf16 tensor-core peaks from the vendors' data sheets (without sparsity), matched against the device name
in this order (the first substring that occurs wins)."""
LORA = ["lora.r=8", "lora.alpha=16", "lora.dropout=0.0", "lora.target_modules=all-linear"]


def build_model(workdir: Path, size: str) -> Path:
    """A random-init Llama of `size` beside compare.py's fixtures (kept: a second call reuses it)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = workdir / f"model-llama-{size}"
    if (out / "config.json").exists():
        return out
    tok = AutoTokenizer.from_pretrained(workdir / "tokenizer")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), max_position_embeddings=512, tie_word_embeddings=False,
                                         bos_token_id=tok.bos_token_id or tok.eos_token_id, eos_token_id=tok.eos_token_id,
                                         pad_token_id=tok.pad_token_id, **SIZES[size]))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def why_skipped(part: str, device: str) -> str | None:
    """The reason a part cannot run here, or None."""
    import importlib.util

    if part == "sft-flash-attn2":
        if device != "cuda":
            return "flash-attention 2 needs a CUDA device"
        if importlib.util.find_spec("flash_attn") is None:
            return "the flash_attn package is not installed"
    if part == "dpo-qlora":
        if device != "cuda":
            return "4-bit loading (bitsandbytes) needs a CUDA device"
        if importlib.util.find_spec("bitsandbytes") is None:
            return "the bitsandbytes package is not installed"
    return None


def part_config(part: str, workdir: Path, size: str, steps: int, run_dir: Path, device: str, dtype: str):
    """(verb, alignlab Config) of a part: compare.py's workload settings on the Llama model and this device."""
    workload = {"sft-flash-attn2": "sft", "dpo-qlora": "dpo-adapter"}.get(part, part)
    extra = [f"model.device={device}", f"model.dtype={dtype}",
             f"model.attn_implementation={'flash_attention_2' if part == 'sft-flash-attn2' else 'sdpa'}"]
    if part == "dpo-qlora":
        extra.append("model.load_in_4bit=true")
    if workload == "dpo-adapter":
        extra += LORA
    return _ours_config(workload, workdir, f"llama-{size}", steps, run_dir, tuple(extra))


def flop_factor(part: str) -> tuple[float, float]:
    """(model FLOPs per trained/scored token, per generated token), in units of N (see the module docstring)."""
    return {"dpo-copy": (8.0, 0.0), "rloo": (8.0, 2.0)}.get(part, (6.0, 0.0))


def run_part(part: str, workdir: Path, size: str, steps: int, device: str, dtype: str) -> dict:
    """Train one part in this process; its s/step, tokens/s, peak memory and model FLOPs per second."""
    import torch

    from alignlab.models.loading import resolve_dtype
    from alignlab.runs.metrics import read_metrics

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        verb, cfg = part_config(part, workdir, size, steps, run_dir, device, dtype)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.time()
        _ours_runner(verb)(cfg, command=f"gpu_check {part}")
        wall = time.time() - start
        rows = read_metrics(run_dir, "train")
    s_step = _median_step([r["time"] for r in rows])
    if s_step != s_step:  # under 4 steps: no interval after warm-up, so the mean over the whole run
        s_step = wall / max(len(rows), 1)
    tokens = statistics.median(r["tokens"] for r in rows[2:] or rows)
    losses = [r.get("loss", r.get("reward_mean")) for r in rows]
    n = matmul_params(workdir / f"model-llama-{size}")
    per_token, per_generated = flop_factor(part)
    flops = n * tokens * (per_token + per_generated) / s_step
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else _peak_rss_mib() / 1024
    finite = all(x is not None and x == x and abs(x) != float("inf") for x in losses)
    return {"s_per_step": round(s_step, 4), "tokens_per_s": round(tokens / s_step, 1), "peak_gib": round(peak, 2),
            "model_tflops": float(f"{flops / 1e12:.4g}"), "steps": len(rows), "wall_s": round(wall, 1),
            "finite": finite, "dtype": str(resolve_dtype(cfg.model.dtype, device)).removeprefix("torch.")}


def matmul_params(model_dir: Path) -> int:
    """Parameters outside the input embedding (every matrix product of a forward pass), from the config."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_dir)
    d, f, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    kv = d // c.num_attention_heads * (c.num_key_value_heads or c.num_attention_heads)
    return layers * (2 * d * d + 2 * d * kv + 3 * d * f) + d * c.vocab_size


def peak_tflops(device: str, given: float | None) -> float | None:
    if given:
        return given
    if device != "cuda":
        return None
    import torch

    return peak_for_name(torch.cuda.get_device_name())


def peak_for_name(name: str) -> float | None:
    """The dense bf16 peak (TFLOP/s) of the first PEAK_BF16_TFLOPS key found in a device name, or None."""
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when available, else cpu")
    ap.add_argument("--size", choices=sorted(SIZES), help="default: 100m on cuda, tiny on cpu")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per part (RL: iterations)")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    ap.add_argument("--peak-tflops", type=float, help="the chip's dense bf16 peak, when its name is not known")
    ap.add_argument("--workdir", type=Path, default=Path(".bench-fixtures"))
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--child", choices=PARTS)
    args = ap.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.size = args.size or ("100m" if args.device == "cuda" else "tiny")
    if args.child:
        _quiet()
        print("RESULT " + json.dumps(run_part(args.child, args.workdir, args.size, args.steps, args.device, args.dtype)))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    print(f"building fixtures in {args.workdir} ...", flush=True)
    build_fixtures(args.workdir, 800)
    model_dir = build_model(args.workdir, args.size)
    peak = peak_tflops(args.device, args.peak_tflops)
    print(f"device {_device_name(args.device)}, model {model_dir.name} ({matmul_params(model_dir) / 1e6:.1f}M "
          f"parameters in matrix products), {args.steps} steps per part, bf16 peak "
          f"{f'{peak:.0f} TFLOP/s' if peak else 'unknown (MFU not computed)'}", flush=True)
    results = {}
    for part in parts:
        reason = why_skipped(part, args.device)
        if reason:
            results[part] = {"status": "SKIPPED", "reason": reason}
        else:
            results[part] = _child(part, args)
        r = results[part]
        if r["status"] == "ok" and peak:
            r["mfu"] = round(r["model_tflops"] / peak, 4)
        print(f"  {part}: {json.dumps(r)}", flush=True)
    print(_table(results))
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                       indent=2))
    failed = [p for p, r in results.items() if r["status"] == "FAILED"]
    if failed:
        sys.exit(f"FAILED: {', '.join(failed)}")
    print("every part passed" + (" (some skipped, reasons above)" if any(
        r["status"] == "SKIPPED" for r in results.values()) else ""))


def _child(part: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", part, "--device", args.device, "--size", args.size,
           "--steps", str(args.steps), "--dtype", args.dtype, "--workdir", str(args.workdir)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"PYTHONWARNINGS": "ignore"})
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {"status": "FAILED", "error": " | ".join(tail)[-400:]}
    r = json.loads(lines[-1][len("RESULT "):])
    if not r["finite"]:
        return {"status": "FAILED", "error": "a non-finite loss", **r}
    return {"status": "ok", **r}


def _device_name(device: str) -> str:
    import platform

    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"CPU {platform.machine()}, {os.cpu_count()} cores (torch {torch.__version__})"


def _table(results: dict) -> str:
    lines = ["| part | status | s/step | tokens/s | peak GiB | model TFLOP/s | MFU |", "|---|---|---|---|---|---|---|"]
    for part, r in results.items():
        if r["status"] != "ok":
            lines.append(f"| {part} | {r['status']}: {r.get('reason') or r.get('error')} | - | - | - | - | - |")
            continue
        mfu = f"{100 * r['mfu']:.1f} %" if "mfu" in r else "-"
        lines.append(f"| {part} | ok ({r['dtype']}) | {r['s_per_step']:.4f} | {r['tokens_per_s']:,.0f} | "
                     f"{r['peak_gib']:.2f} | {r['model_tflops']:.4g} | {mfu} |")
    return "\n".join(lines)


def _quiet() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


if __name__ == "__main__":
    main()
