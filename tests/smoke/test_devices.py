"""Device paths: clear errors on CPU-only machines; the CUDA path itself runs only where a GPU exists."""

import json
import math

import pytest
import torch
from tests.conftest import FAST, run_cli

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
@pytest.mark.parametrize("override, words", [("model.load_in_4bit=true", "needs a CUDA GPU"),
                                             ("model.device=cuda", "no CUDA device")])
def test_gpu_options_fail_clearly_without_cuda(alignlab_home, tmp_path, override, words):
    proc = run_cli("train", "sft", *FAST, "train.max_steps=1", "lora.r=4", override, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()  # checked before anything is written


@pytest.mark.gpu
@needs_cuda
def test_sft_on_cuda_with_bf16(alignlab_home, tmp_path):
    run_dir = tmp_path / "cuda"
    settings = [a for a in FAST if not a.startswith("model.device")]
    run_cli("train", "sft", *settings, "model.device=cuda", "train.mixed_precision=bf16", "train.max_steps=3",
            f"run_dir={run_dir}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in rows if r["split"] == "train")
