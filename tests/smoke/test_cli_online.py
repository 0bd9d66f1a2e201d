"""`train reinforce|rloo|ppo|grpo` end to end on the micro model: 2 iterations each, weights change, metrics are
finite; PPO's critic variants, a KL kept in the loss, and resume equal to an uninterrupted run."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import MICRO, invoke_cli, metric_rows

ONLINE_FAST = [f"model.name_or_path={MICRO}", "model.device=cpu", "rl.iterations=2", "rl.prompts_per_iteration=4",
               "rl.k=3", "eval.in_training_prompts=4", "eval.in_training_k=2", "generation.max_new_tokens=12", "train.batch_size=4",
               "train.grad_accum=2", "train.log_every=1", "train.eval_every=1", "optimizer.lr=1e-3",
               "logging.progress=false", "logging.report_to=[]"]
SAMPLE_KEYS = {"reward_mean", "reward_std", "kl_k1", "kl_k2", "kl_k3", "kl_beta", "entropy", "response_length",
               "identical_fraction", "truncated_fraction"}
TRAIN_KEYS = SAMPLE_KEYS | {"loss", "policy_loss", "grad_norm", "time_generation", "time_scoring", "time_logprobs",
                            "time_training", "time_frac_generation", "samples_per_s"}
EXTRA_KEYS = {"reinforce": set(), "rloo": set(), "grpo": {"clip_fraction", "approx_kl", "kl_loss"},
              "ppo": {"clip_fraction", "approx_kl", "value_loss", "explained_variance"}}
WEIGHT = "transformer.h.0.mlp.c_fc.weight"


def _changed(run_dir) -> bool:
    from alignlab.models.builtin import cache_dir

    before = load_file(cache_dir(MICRO) / "model.safetensors")[WEIGHT]
    return not torch.equal(before, load_file(run_dir / "final" / "model.safetensors")[WEIGHT])


@pytest.mark.parametrize("algorithm", ["reinforce", "rloo", "ppo", "grpo"])
def test_two_iterations_from_the_preset(alignlab_home, tmp_path, algorithm):
    run_dir = tmp_path / algorithm
    out = invoke_cli("train", algorithm, "-c", f"{algorithm}/reviews-tiny", *ONLINE_FAST, f"run_dir={run_dir}")
    assert "held-out: reward_mean" in out.output
    train = metric_rows(run_dir, "train")
    assert [r["step"] for r in train] == [1, 2]
    keys = TRAIN_KEYS | EXTRA_KEYS[algorithm]
    assert all(keys <= set(r) and all(math.isfinite(r[k]) for k in keys) for r in train), set(train[0]) ^ keys
    evals = metric_rows(run_dir, "eval")
    assert [r["step"] for r in evals] == [0, 1, 2]
    assert all({"gold_reward_mean", "kl_k1", "kl_k3"} <= set(r) for r in evals)
    assert abs(evals[0]["kl_k3"]) < 1e-5  # policy = reference before the first update
    assert train[0]["identical_fraction"] < 1.0  # k samples of a prompt differ at step 0
    assert _changed(run_dir)
    assert (run_dir / "samples" / "step-2.jsonl").exists()
    assert (run_dir / "final" / "value" / "value_head.safetensors").exists() == (algorithm == "ppo")


def test_ppo_with_a_value_head_on_the_policy(alignlab_home, tmp_path):
    run_dir = tmp_path / "head"
    invoke_cli("train", "ppo", "-c", "ppo/reviews-tiny", *ONLINE_FAST, "rl.value_model=head", f"run_dir={run_dir}")
    assert (run_dir / "final" / "value" / "value_head.safetensors").exists()
    assert not (run_dir / "final" / "value" / "config.json").exists()  # no second backbone
    critic = load_file(run_dir / "checkpoints" / "step-2" / "critic.safetensors")
    assert set(critic) == {"summary.weight", "summary.bias"} and critic["summary.weight"].abs().sum() > 0
    assert all(math.isfinite(r["value_loss"]) for r in metric_rows(run_dir, "train"))


def test_kl_in_the_loss_is_logged_and_named(alignlab_home, tmp_path):
    run_dir = tmp_path / "inloss"
    invoke_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, "kl.mode=in_loss", "kl.estimator=k2",
               "kl.beta=0.5", f"run_dir={run_dir}")
    train = metric_rows(run_dir, "train")
    assert all("kl_loss" in r and r["return_mean"] == pytest.approx(r["reward_mean"], abs=1e-6) for r in train)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {k: manifest["online"][k] for k in ("kl_estimator", "kl_mode", "estimator")} == {
        "kl_estimator": "k2", "kl_mode": "in_loss", "estimator": "rloo"}


def test_without_a_kl_penalty_the_held_out_evaluation_still_measures_kl(alignlab_home, tmp_path):
    run_dir = tmp_path / "nokl"
    invoke_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, "optimizer.lr=3e-3", "kl.beta=0",
               f"run_dir={run_dir}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["online"]["reference"] is None  # training reads no reference
    train = metric_rows(run_dir, "train")
    assert all(r["kl_beta"] == 0 for r in train)
    evals = metric_rows(run_dir, "eval")
    assert all("sqrt_kl" in r for r in evals)  # √KL to the start: the x-axis of over-optimisation
    assert abs(evals[0]["kl_k3"]) < 1e-5 and evals[-1]["kl_k3"] > 0


def test_lora_policy_uses_its_adapters_off_as_the_reference(alignlab_home, tmp_path):
    run_dir = tmp_path / "lora"
    invoke_cli("train", "grpo", "-c", "grpo/reviews-tiny", *ONLINE_FAST, "lora.r=4", f"run_dir={run_dir}")
    assert json.loads((run_dir / "manifest.json").read_text())["online"]["reference"] == "AdapterOff"
    assert (run_dir / "final" / "adapter_model.safetensors").exists()
    assert abs(metric_rows(run_dir, "eval")[0]["kl_k3"]) < 1e-5


VOLATILE = ("time", "samples_per_s", "peak_rss")


def _events(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)} for r in rows]


def crash_after_step_2_and_resume(verb: str, settings: list[str], tmp_path):
    """Run 4 iterations twice; drop the second run's last checkpoint and final/ as a crash would, resume it.
    Returns (uninterrupted run, resumed run)."""
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    invoke_cli("train", verb, *settings, f"run_dir={full}")
    invoke_cli("train", verb, *settings, f"run_dir={crashed}")
    shutil.rmtree(crashed / "checkpoints" / "step-4")
    shutil.rmtree(crashed / "final")
    manifest = json.loads((crashed / "manifest.json").read_text())
    (crashed / "manifest.json").write_text(json.dumps(manifest | {"status": "running"}))
    invoke_cli("train", verb, "--resume", str(crashed))
    return full, crashed


def test_resume_equals_uninterrupted(alignlab_home, tmp_path):
    """PPO with 2 epochs per rollout, a critic and an adaptive β: everything a resume must restore."""
    settings = ["-c", "ppo/reviews-tiny", *ONLINE_FAST, "rl.iterations=4", "train.save_every=2",
                "train.keep_checkpoints=5", "train.eval_every=2"]
    full, crashed = crash_after_step_2_and_resume("ppo", settings, tmp_path)
    assert _events(crashed) == _events(full)
    for name in ("model.safetensors", "value/value_head.safetensors"):
        assert (crashed / "final" / name).read_bytes() == (full / "final" / name).read_bytes()
    state = json.loads((full / "checkpoints" / "step-2" / "state.json").read_text())
    assert state["extra"]["kl_beta"] != 0.05  # the adaptive β moved and is part of the checkpoint
