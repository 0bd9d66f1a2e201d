"""`train dpo` end to end on the micro model: every loss, β schedules, reference modes and the cache."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import MICRO, invoke_cli, metric_rows, run_cli

from alignlab.losses.preference import PREFERENCE_LOSSES

DPO_FAST = ["-c", "dpo/reviews-tiny", f"model.name_or_path={MICRO}", "data.dataset=builtin:reviews-prefs",
            "data.max_train_samples=48", "data.max_eval_samples=16", "data.max_length=64", "train.batch_size=8",
            "train.log_every=1", "train.eval_every=2", "train.save_every=100", "train.eval_train_samples=8",
            "model.device=cpu", "logging.progress=false", "logging.report_to=[]"]


_rows, _cli = metric_rows, invoke_cli


@pytest.mark.parametrize("loss", sorted(PREFERENCE_LOSSES))
def test_every_loss_runs_three_steps_and_changes_weights(alignlab_home, tmp_path, loss):
    run_dir = tmp_path / "run"
    _cli("train", "dpo", *DPO_FAST, f"loss.name={loss}", "train.max_steps=3", f"run_dir={run_dir}")
    train = _rows(run_dir, "train")
    assert [r["step"] for r in train] == [1, 2, 3]
    keys = {"loss", "reward_chosen", "reward_rejected", "margin", "accuracy", "logps_chosen", "logps_rejected", "beta"}
    assert all(keys <= set(r) and all(math.isfinite(r[k]) for k in keys) for r in train)
    assert {"accuracy", "margin"} <= set(_rows(run_dir, "eval")[-1])
    from alignlab.models.builtin import cache_dir

    key = "transformer.h.0.mlp.c_fc.weight"
    before, after = load_file(cache_dir(MICRO) / "model.safetensors"), load_file(run_dir / "final" / "model.safetensors")
    assert not torch.equal(before[key], after[key])


def test_beta_schedule_follows_optimizer_steps_whatever_the_accumulation(alignlab_home, tmp_path):
    """IPO with β linear 1.0 → 0.01 over 4 optimizer steps: the same logged β with accumulation 1 and 4."""
    betas = {}
    for accum, batch in ((1, 8), (4, 2)):
        run_dir = tmp_path / f"accum{accum}"
        _cli("train", "dpo", *DPO_FAST, "loss.name=ipo", "beta.schedule=linear", "beta.start=1.0", "beta.end=0.01",
             f"train.grad_accum={accum}", f"train.batch_size={batch}", "train.max_steps=4", f"run_dir={run_dir}")
        betas[accum] = [round(r["beta"], 6) for r in _rows(run_dir, "train")]
    assert betas[1] == betas[4] == [1.0, 0.67, 0.34, 0.01]


def test_precomputed_reference_does_no_reference_pass_and_is_cached(alignlab_home, tmp_path):
    out = run_cli("train", "dpo", *DPO_FAST, "ref.mode=precomputed", "train.epochs=3", f"ref.cache_dir={tmp_path}/c",
                  f"run_dir={tmp_path}/first")
    assert "0 reference passes during training" in out.stderr + out.stdout
    first = _rows(tmp_path / "first", "reference")[0]
    assert first["train_cache"] == "miss" and first["eval_cache"] == "miss"
    assert _rows(tmp_path / "first", "train")[-1]["epoch"] == pytest.approx(3.0)
    _cli("train", "dpo", *DPO_FAST, "ref.mode=precomputed", "train.max_steps=2", f"ref.cache_dir={tmp_path}/c",
         f"run_dir={tmp_path}/second")
    second = _rows(tmp_path / "second", "reference")[0]
    assert second["train_cache"] == "hit" and second["eval_cache"] == "hit"
    # A different dataset (one more training pair) must not reuse the stored values.
    _cli("train", "dpo", *DPO_FAST, "ref.mode=precomputed", "train.max_steps=1", "data.max_train_samples=49",
         f"ref.cache_dir={tmp_path}/c", f"run_dir={tmp_path}/third")
    assert _rows(tmp_path / "third", "reference")[0]["train_cache"] == "miss"


def test_full_fine_tuning_precomputes_the_reference_by_default_and_still_measures_sampled_kl(alignlab_home,
                                                                                          tmp_path):
    """ref.mode=auto in train dpo without LoRA: the cached reference (no reference pass per step); the in-training
    sampled evaluation keeps a frozen copy for its KL, which starts at 0 (policy = reference before step 1)."""
    out = run_cli("train", "dpo", *DPO_FAST, "train.max_steps=2", "eval.in_training_prompts=4",
                  f"ref.cache_dir={tmp_path}/c", f"run_dir={tmp_path}/run")
    assert "0 reference passes during training" in out.stderr + out.stdout
    ref = _rows(tmp_path / "run", "reference")[0]
    assert ref["mode"] == "precomputed" and ref["strategy"] == "PolicyAtStart" and ref["extra_model_params"] > 0
    samples = _rows(tmp_path / "run", "eval_samples")
    assert samples[0]["step"] == 0 and samples[0]["kl_k1"] == pytest.approx(0.0, abs=1e-5)
    assert math.isfinite(samples[-1]["kl_k1"])
    # without the sampled evaluation there is no second model at all
    _cli("train", "dpo", *DPO_FAST, "train.max_steps=1", "eval.in_training_prompts=0", f"ref.cache_dir={tmp_path}/c",
         f"run_dir={tmp_path}/lean")
    assert _rows(tmp_path / "lean", "reference")[0]["extra_model_params"] == 0


def test_lora_reference_is_the_policy_with_adapters_off(alignlab_home, tmp_path):
    _cli("train", "dpo", *DPO_FAST, "lora.r=4", "train.max_steps=2", f"run_dir={tmp_path}/run")
    ref = _rows(tmp_path / "run", "reference")[0]
    assert ref["mode"] == "adapter" and ref["strategy"] == "AdapterOff" and ref["extra_model_params"] == 0
    assert (tmp_path / "run" / "final" / "adapter_config.json").exists()


def test_study_d_sft_adapter_is_policy_and_reference(alignlab_home, tmp_path):
    sft = tmp_path / "sft"
    _cli("train", "sft", "-c", "sft/reviews-tiny-lora", f"model.name_or_path={MICRO}", "data.max_train_samples=32",
         "train.max_steps=2", "train.batch_size=8", "model.device=cpu", "logging.progress=false",
         "logging.report_to=[]", "lora.r=4", f"run_dir={sft}")
    _cli("train", "dpo", *DPO_FAST, f"model.name_or_path={sft}", "lora.r=4", "train.max_steps=2",
         f"run_dir={tmp_path}/dpo")
    ref = _rows(tmp_path / "dpo", "reference")[0]
    assert ref["strategy"] == "NamedAdapter" and ref["extra_model_params"] == 0
    step0 = _rows(tmp_path / "dpo", "eval")[0]
    assert step0["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy = reference before the first step
    # ref.mode=adapter_off: the same start, the base model as the reference (the SFT adapter keeps training)
    _cli("train", "dpo", *DPO_FAST, f"model.name_or_path={sft}", "lora.r=4", "train.max_steps=1",
         "ref.mode=adapter_off", "optimizer.lr=1e-6", f"run_dir={tmp_path}/dpo-off")
    ref = _rows(tmp_path / "dpo-off", "reference")[0]
    assert ref["mode"] == "adapter_off" and ref["strategy"] == "AdapterOff" and ref["extra_model_params"] == 0
    assert _rows(tmp_path / "dpo-off", "eval")[0]["loss"] != pytest.approx(math.log(2), abs=1e-4)


def test_bad_loss_and_reference_combinations_name_the_field(alignlab_home):
    bad = run_cli("train", "dpo", *DPO_FAST, "loss.name=dpo", check=False)
    assert bad.returncode != 0 and "loss.name" in bad.stderr and "sigmoid" in bad.stderr
    bad = run_cli("train", "dpo", *DPO_FAST, "loss.name=simpo", "ref.mode=copy", check=False)
    assert bad.returncode != 0 and "reference-free" in bad.stderr
    bad = run_cli("train", "dpo", *DPO_FAST, "ref.mode=adapter", check=False)
    assert bad.returncode != 0 and "lora.r" in bad.stderr
