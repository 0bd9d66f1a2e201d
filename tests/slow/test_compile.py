"""`model.compile=true` end to end: SFT and RLOO train through the compiled forward (generation included) and
SFT's first loss equals the eager run's (compilation changes kernels, not the maths)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import FAST, MICRO, metric_rows, run_cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                 reason="torch.compile on CPU needs a C++ compiler")]


def test_sft_and_rloo_train_with_a_compiled_model(alignlab_home, tmp_path):
    losses = {}
    for compiled in ("false", "true"):
        run_dir = tmp_path / f"sft-{compiled}"
        run_cli("train", "sft", *FAST, "train.max_steps=3", "train.log_every=1", "train.eval_every=null",
                "train.save_every=null", f"model.compile={compiled}", f"run_dir={run_dir}", timeout=900)
        train = metric_rows(run_dir, "train")
        assert len(train) == 3 and all(math.isfinite(r["loss"]) for r in train)
        losses[compiled] = train[0]["loss"]
    assert losses["true"] == pytest.approx(losses["false"], rel=1e-4)
    run_dir = tmp_path / "rloo"
    run_cli("train", "rloo", "-c", "rloo/reviews-tiny", f"model.name_or_path={MICRO}", "model.device=cpu", "model.compile=true",
            "rl.iterations=2", "rl.prompts_per_iteration=2", "rl.k=2", "train.batch_size=4",
            "generation.max_new_tokens=8", "generation.batch_size=2", "train.eval_every=null",
            "eval.in_training_prompts=0", "logging.progress=false", "logging.report_to=[]", f"run_dir={run_dir}",
            timeout=900)
    train = metric_rows(run_dir, "train")
    assert len(train) == 2 and all(math.isfinite(r["loss"]) for r in train)
    from alignlab.models.builtin import cache_dir

    weight = "transformer.h.0.mlp.c_fc.weight"
    before = load_file(cache_dir(MICRO) / "model.safetensors")[weight]
    assert not torch.equal(before, load_file(run_dir / "final" / "model.safetensors")[weight])
