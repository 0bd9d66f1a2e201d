"""Every CLI verb for a few steps on the micro model, as a user runs it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import FAST, MICRO, run_cli


def _metrics(run_dir, split):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


def test_version_and_help():
    assert run_cli("--version").stdout.strip().startswith("alignlab ")
    out = run_cli("--help").stdout
    for verb in ("train", "base", "generate", "config", "quickstart"):
        assert verb in out


def test_config_show_resolves_overrides():
    out = run_cli("config", "show", "-c", "sft/reviews-tiny", "optimizer.lr=0.5", "lora.r=4").stdout
    assert "lr: 0.5" in out and "r: 4" in out
    assert "optimizer.name" in run_cli("config", "show", "--explain").stdout


@pytest.mark.parametrize("override, field", [("optimizer.name=nonsense", "optimizer.name"), ("lora.r=-1", "lora.r")])
def test_bad_config_exits_2_with_one_line(override, field, tmp_path):
    proc = run_cli("train", "sft", "-c", "sft/reviews-tiny", override, check=False, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_base_build_and_list(alignlab_home):
    path = run_cli("base", "build", "--name", MICRO).stdout.strip().splitlines()[-1]
    assert (alignlab_home / "models") in __import__("pathlib").Path(path).parents
    assert "built" in run_cli("base", "list").stdout


def test_train_sft_full_changes_weights_and_saves_loadable_model(alignlab_home, tmp_path):
    run_dir = tmp_path / "run"
    run_cli("train", "sft", "-c", "sft/reviews-tiny", *FAST, "train.max_steps=8", f"run_dir={run_dir}")
    for name in ("config.yaml", "manifest.json", "metrics.jsonl", "final/model.safetensors",
                 "final/tokenizer.json", "checkpoints/step-8/optimizer.pt"):
        assert (run_dir / name).exists(), name
    train = _metrics(run_dir, "train")
    assert train and all(math.isfinite(r["loss"]) for r in train)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["data_fingerprint"] and manifest["versions"]["torch"]

    from transformers import AutoModelForCausalLM

    from alignlab.models.builtin import cache_dir

    tuned = AutoModelForCausalLM.from_pretrained(run_dir / "final")
    base = load_file(str(cache_dir(MICRO) / "model.safetensors"))
    name = "transformer.h.0.mlp.c_fc.weight"
    assert not torch.allclose(tuned.state_dict()[name], base[name])
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents*")) == []  # report_to=[] in FAST


def test_train_sft_lora_adapter_loads_with_plain_peft(alignlab_home, tmp_path):
    run_dir = tmp_path / "lora"
    run_cli("train", "sft", "-c", "sft/reviews-tiny", *FAST, "train.max_steps=6", "lora.r=8",
            "optimizer.lr=1e-2", f"run_dir={run_dir}", "logging.report_to=[tensorboard]")
    final = run_dir / "final"
    assert (final / "adapter_config.json").exists() and not (final / "model.safetensors").exists()
    assert list(run_dir.rglob("events.out.tfevents*"))

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = json.loads((final / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16
    base = AutoModelForCausalLM.from_pretrained(cfg["base_model_name_or_path"])
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = PeftModel.from_pretrained(base, str(final))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: non-zero means it trained
    tok = AutoTokenizer.from_pretrained(final)
    out = model.generate(**tok("I watched", return_tensors="pt"), max_new_tokens=5, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    assert out.shape[1] > 2
    merged = model.merge_and_unload().state_dict()
    assert all(torch.equal(before[k], merged[k]) for k in before if "wte" in k)  # embeddings frozen


def test_generate_verb(alignlab_home, tmp_path):
    out = tmp_path / "samples.jsonl"
    proc = run_cli("generate", "-m", MICRO, "-p", "I watched The Lost Harbor and", "--n-prompts", "2",
                   "generation.max_new_tokens=6", "-k", "2", "logging.progress=false",
                   "--out", str(out))
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 2 and all(0 <= r["gold"] <= 1 for r in records)
    assert "gold reward (review_judge)" in proc.stderr


@pytest.mark.parametrize("optimizer, buffers", [("sgd", 0), ("sgd_momentum", 1), ("sgd_nesterov", 1), ("adamw", 2)])
def test_memory_report_matches_invariant(alignlab_home, tmp_path, optimizer, buffers):
    run_dir = tmp_path / optimizer
    run_cli("train", "sft", *FAST, "train.max_steps=1", f"optimizer.name={optimizer}", f"run_dir={run_dir}")
    (mem,) = _metrics(run_dir, "memory")
    assert mem["optimizer_state_bytes"] == mem["trainable_params"] * 4 * buffers


def test_unknown_model_is_one_line_error(tmp_path):
    proc = run_cli("generate", "-m", str(tmp_path / "no-such-model"), "--n-prompts", "1", check=False)
    assert proc.returncode == 2 and "cannot load" in proc.stderr and "Traceback" not in proc.stderr
