"""Model and loop options end to end: accumulation, checkpointing with LoRA, deterministic built-in weights."""

import json
import math

from tests.conftest import FAST, run_cli


def test_grad_accum_checkpointing_and_lora_targets(alignlab_home, tmp_path):
    run_dir = tmp_path / "opts"
    run_cli("train", "sft", *FAST, "train.max_steps=3", "train.grad_accum=2", "model.gradient_checkpointing=true",
            "model.attn_implementation=eager", "lora.r=2", "lora.target_modules=[c_attn]",
            "lora.modules_to_save=[lm_head]", "scheduler.name=linear", "optimizer.name=sgd_nesterov", "train.mixed_precision=bf16",
            f"run_dir={run_dir}")
    adapter = json.loads((run_dir / "final" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == ["c_attn"] and adapter["modules_to_save"] == ["lm_head"]
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert train and all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in train)


def test_builtin_build_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    out_a = run_cli("base", "build", "--name", "reviews-micro", env={"ALIGNLAB_HOME": str(a)}).stdout.split()[-1]
    out_b = run_cli("base", "build", "--name", "reviews-micro", env={"ALIGNLAB_HOME": str(b)}).stdout.split()[-1]
    weights = [open(f"{p}/model.safetensors", "rb").read() for p in (out_a, out_b)]
    assert weights[0] == weights[1]
    assert open(f"{out_a}/tokenizer.json").read() == open(f"{out_b}/tokenizer.json").read()


def test_rloo_samples_with_a_static_kv_cache(alignlab_home, tmp_path):
    from tests.smoke.test_cli_online import ONLINE_FAST

    run_dir = tmp_path / "static"
    run_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, "generation.cache=static", f"run_dir={run_dir}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert len(train) == 2 and all(math.isfinite(r["loss"]) and r["response_length"] > 0 for r in train)
