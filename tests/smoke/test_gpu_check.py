"""The device check script (`benchmarks/gpu_check.py`) runs its every part on CPU, the same code a GPU runs."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_on_cpu_passes_every_part_and_skips_the_cuda_only_ones_with_a_reason(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--steps", "2", "--workdir",
                           str(tmp_path / "fixtures"), "--out", str(out), "--peak-tflops", "1"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    for part in ("sft", "dpo-copy", "dpo-adapter", "rloo"):
        r = results[part]
        assert r["status"] == "ok" and r["finite"] and r["steps"] == 2 and r["dtype"] == "float32"
        assert r["s_per_step"] > 0 and r["tokens_per_s"] > 0 and r["peak_gib"] > 0 and 0 < r["mfu"] < 1
    assert results["sft-flash-attn2"] == {"status": "SKIPPED", "reason": "flash-attention 2 needs a CUDA device"}
    assert results["dpo-qlora"]["status"] == "SKIPPED" and "CUDA" in results["dpo-qlora"]["reason"]
    assert "every part passed" in proc.stdout and "| rloo | ok (float32) |" in proc.stdout


def test_gpu_check_rejects_an_unknown_part_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--parts", "sft,ppo",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "unknown part(s) ppo; choose from sft, dpo-copy, dpo-adapter, rloo, sft-flash-attn2, dpo-qlora"]


def test_model_flops_count_the_matrix_products_by_hand(tmp_path):
    from transformers import LlamaConfig

    gc = _module()
    LlamaConfig(vocab_size=10, hidden_size=4, intermediate_size=6, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1).save_pretrained(tmp_path)
    # per layer: q, o 4×4 each = 32; k, v 4×2 each = 16; gate, up, down 4×6 each = 72 → 120; × 2 layers + head 40
    assert gc.matmul_params(tmp_path) == 280
    assert gc.flop_factor("dpo-copy") == (8.0, 0.0) and gc.flop_factor("rloo") == (8.0, 2.0)


@pytest.mark.parametrize("name, peak", [("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 80GB HBM3", 989.0),
                                        ("NVIDIA H200", 989.0), ("NVIDIA L40S", 362.0), ("NVIDIA L4", 121.0),
                                        ("Some new GPU", None)])
def test_bf16_peak_is_looked_up_by_device_name(name, peak):
    gc = _module()
    assert gc.peak_for_name(name) == peak
