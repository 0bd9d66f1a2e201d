"""`train warp` end to end on the micro model (2 rounds x 2 runs of 2 iterations): every run, merge and LITI is
saved and is what the formulas say, the next round loads LITI's output, the start is never modified, the EMA anchor
moves, and an interrupted WARP resumes to the same final model. `alignlab merge` on full models and an adapter."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import MICRO, invoke_cli
from tests.smoke.test_cli_online import ONLINE_FAST, crash_after_step_2_and_resume

from alignlab.models.merge import liti, slerp_merge

WARP_FAST = [*ONLINE_FAST, "train.eval_every=null", "eval.prompts=6", "warp.sweep=[0.0,1.0]",
             "train.save_every=1"]


def _weights(folder) -> dict:
    return load_file(str(folder / "model.safetensors"))


def _start_folder():
    from alignlab.models.builtin import cache_dir

    return cache_dir(MICRO)


def _digest(folder) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def warp_run(alignlab_home, tmp_path_factory):
    run = tmp_path_factory.mktemp("warp") / "w"
    before = _digest(_start_folder())
    invoke_cli("train", "warp", "-c", "warp/reviews-tiny", *WARP_FAST, f"run_dir={run}")
    assert _digest(_start_folder()) == before  # θ_init is read, never written
    return run


def _close(a: dict, b: dict) -> None:
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_every_run_merge_and_the_final_model_are_saved_as_the_formulas_say(warp_run):
    start = _weights(_start_folder())
    runs1 = [_weights(warp_run / "iter-1" / f"run-{m}" / "final") for m in (1, 2)]
    assert all(not torch.equal(r["transformer.h.0.mlp.c_fc.weight"], start["transformer.h.0.mlp.c_fc.weight"])
               for r in runs1)
    slerp1, liti1 = _weights(warp_run / "iter-1" / "slerp"), _weights(warp_run / "iter-1" / "liti")
    _close(slerp1, slerp_merge(start, runs1, 0.5))
    _close(liti1, liti(start, slerp1, 0.5))
    runs2 = [_weights(warp_run / "iter-2" / f"run-{m}" / "final") for m in (1, 2)]
    slerp2 = _weights(warp_run / "iter-2" / "slerp")
    _close(slerp2, slerp_merge(liti1, runs2, 0.5))  # round 2 merges around LITI's output, not the start
    _close(_weights(warp_run / "final"), liti(liti1, slerp2, 0.5))
    cfg2 = (warp_run / "iter-2" / "run-1" / "config.yaml").read_text()
    assert str(warp_run / "iter-1" / "liti") in cfg2 and "mode: ema" in cfg2
    assert json.loads((warp_run / "manifest.json").read_text())["status"] == "completed"
    merge_info = json.loads((warp_run / "iter-1" / "slerp" / "merge.json").read_text())
    assert 0 < merge_info["mean_task_vector_angle_deg"] < 180


def test_report_lists_reward_and_kl_of_every_model(warp_run):
    report = json.loads((warp_run / "warp.json").read_text())
    entries = report["entries"]
    expected = {"start", "iter-1/run-1", "iter-1/run-2", "iter-1/slerp", "iter-1/liti", "iter-2/run-1",
                "iter-2/run-2", "iter-2/slerp", "final", "sweep/eta=0", "sweep/eta=1", "sweep-run-1/eta=0",
                "sweep-run-1/eta=1"}
    assert set(entries) == expected
    assert entries["sweep-run-1/eta=1"]["reward_mean"] == pytest.approx(entries["iter-2/run-1"]["reward_mean"])
    for e in entries.values():
        assert all(math.isfinite(e[k]) for k in ("reward_mean", "gold_reward_mean", "kl_k1", "kl_k3", "entropy"))
    assert entries["start"]["kl_k1"] == pytest.approx(0.0, abs=1e-5)
    assert entries["sweep/eta=0"]["kl_k1"] == pytest.approx(0.0, abs=1e-5)
    assert entries["sweep/eta=1"]["reward_mean"] == pytest.approx(entries["iter-2/slerp"]["reward_mean"])
    assert set(report["summary"]["rounds"]) == {"1", "2"}
    assert (warp_run / "reward_kl.png").stat().st_size > 0


def test_the_ema_anchor_moved_during_each_run(warp_run):
    run = warp_run / "iter-1" / "run-1"
    anchor = load_file(str(run / "checkpoints" / "step-2" / "ema_anchor.safetensors"))
    start, final = _weights(_start_folder()), _weights(run / "final")
    name = "transformer.h.0.mlp.c_fc.weight"
    assert not torch.equal(anchor[name], start[name]) and not torch.equal(anchor[name], final[name])


def test_interrupted_warp_resumes_to_the_same_final_model(warp_run, tmp_path):
    crashed = tmp_path / "crashed"
    shutil.copytree(warp_run, crashed)
    for gone in ("final", "iter-2/slerp", "iter-2/run-2", "reward_kl.png"):
        target = crashed / gone
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    report = json.loads((crashed / "warp.json").read_text())
    report["entries"] = {k: v for k, v in report["entries"].items() if k.startswith(("start", "iter-1"))}
    (crashed / "warp.json").write_text(json.dumps(report))
    manifest = json.loads((crashed / "manifest.json").read_text())
    (crashed / "manifest.json").write_text(json.dumps(manifest | {"status": "interrupted"}))
    kept = (crashed / "iter-2" / "run-1" / "final" / "model.safetensors").stat().st_mtime_ns
    # run_dir still names the original folder in the copied config: resume reads that, so point it here
    cfg = (crashed / "config.yaml").read_text().replace(str(warp_run), str(crashed))
    (crashed / "config.yaml").write_text(cfg)
    invoke_cli("train", "warp", "--resume", str(crashed))
    assert (crashed / "iter-2" / "run-1" / "final" / "model.safetensors").stat().st_mtime_ns == kept  # not retrained
    _close(_weights(crashed / "final"), _weights(warp_run / "final"))
    assert set(json.loads((crashed / "warp.json").read_text())["entries"]) == set(report["entries"]) | {
        "iter-2/run-1", "iter-2/run-2", "iter-2/slerp", "final", "sweep/eta=0", "sweep/eta=1", "sweep-run-1/eta=0",
        "sweep-run-1/eta=1"}


def test_ema_reference_with_mu_one_is_the_policy_after_the_last_update(alignlab_home, tmp_path):
    run = tmp_path / "ema"
    invoke_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, "ref.mode=ema", "ref.ema_mu=1.0",
               "train.save_every=1", f"run_dir={run}")
    anchor = load_file(str(run / "checkpoints" / "step-2" / "ema_anchor.safetensors"))
    policy = _weights(run / "final")
    assert set(anchor) <= set(policy) | {"lm_head.weight"}
    for name, t in anchor.items():
        if name in policy:
            torch.testing.assert_close(t, policy[name])
    assert json.loads((run / "manifest.json").read_text())["online"]["reference"] == "EMAAnchor"


def test_ema_reference_resumes_exactly(alignlab_home, tmp_path):
    settings = ["-c", "rloo/reviews-tiny", *ONLINE_FAST, "rl.iterations=4", "train.save_every=2",
                "train.keep_checkpoints=5", "ref.mode=ema", "ref.ema_mu=0.3"]
    full, crashed = crash_after_step_2_and_resume("rloo", settings, tmp_path)
    assert (crashed / "final" / "model.safetensors").read_bytes() == (full / "final" / "model.safetensors").read_bytes()


def test_dpo_refuses_the_moving_anchor(alignlab_home, tmp_path):
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    out = CliRunner().invoke(app, ["train", "dpo", "-c", "dpo/reviews-tiny", f"model.name_or_path={MICRO}",
                                   "ref.mode=ema", f"run_dir={tmp_path / 'd'}"])
    assert out.exit_code == 2 and "ref.mode=ema" in out.output


def test_warp_with_lora_merges_adapters_into_full_models(alignlab_home, tmp_path):
    run = tmp_path / "lora"
    invoke_cli("train", "warp", "-c", "warp/reviews-tiny", *WARP_FAST, "lora.r=4", "warp.iterations=1",
               "warp.sweep=[]", f"run_dir={run}")
    assert (run / "iter-1" / "run-1" / "final" / "adapter_config.json").exists()  # each run trains an adapter
    final = _weights(run / "final")
    assert not any("lora" in k for k in final)  # the merge is a full model
    start = _weights(_start_folder())
    name = "transformer.h.0.attn.c_attn.weight"
    assert not torch.equal(final[name], start[name])  # the adapters' B·A reached the merged weights
    assert set(json.loads((run / "warp.json").read_text())["entries"]) == {
        "start", "iter-1/run-1", "iter-1/run-2", "iter-1/slerp", "final"}
