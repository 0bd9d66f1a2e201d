"""`alignlab quickstart` end to end on the micro model with every stage cut to a few steps."""

from __future__ import annotations

import json
import math

from tests.conftest import MICRO, run_cli

MICRO_QUICKSTART = [
    f"model.name_or_path={MICRO}", "model.device=cpu", "logging.progress=false", "logging.report_to=[]",
    "generation.max_new_tokens=12",
    "sft:train.max_steps=4", "sft:data.max_eval_samples=8", "sft:train.eval_train_samples=8",
    "rm:train.max_steps=3", "rm:data.max_eval_samples=8", "rm:train.eval_train_samples=8",
    "pairs:pairs.max_prompts=6", "pairs:pairs.k=3", "pairs:pairs.min_tokens=1",
    "dpo:train.max_steps=3", "dpo:data.max_eval_samples=8", "dpo:train.eval_train_samples=8",
    "dpo:eval.in_training_prompts=2",
    "rloo:rl.iterations=2", "rloo:rl.prompts_per_iteration=4", "rloo:rl.k=2", "rloo:eval.in_training_prompts=4",
    "rloo:train.batch_size=4",
    "eval:eval.prompts=4", "eval:eval.k=2", "eval:eval.bootstrap=20", "eval:eval.max_examples=8",
]


def test_quickstart_runs_every_stage_and_prints_the_table(alignlab_home, tmp_path):
    proc = run_cli("quickstart", *MICRO_QUICKSTART, cwd=tmp_path, timeout=600)
    root = next((tmp_path / "runs").glob("quickstart-*"))
    for stage in ("sft", "rm", "pairs", "dpo", "rloo"):
        assert json.loads((root / stage / "manifest.json").read_text())["status"] == "completed", stage
    summary = json.loads((root / "quickstart.json").read_text())
    assert set(summary["results"]) == {"SFT", "DPO", "RLOO"}
    for name, res in summary["results"].items():
        m = res["metrics"]
        assert all(math.isfinite(m[k]) for k in ("gold_reward_mean", "reward_mean", "kl_k1", "pooled_entropy")), name
        assert 0 <= res["win_rate"]["ci_low"] <= res["win_rate"]["ci_high"] <= 1
    assert abs(summary["results"]["SFT"]["metrics"]["kl_k1"]) < 1e-4  # the reference is the SFT run itself
    assert summary["results"]["SFT"]["win_rate"]["ties"] == 1.0  # same model, same seed: identical replies
    assert (root / "report" / "report.html").exists()
    for header in ("gold", "proxy", "KL", "win rate"):
        assert header in proc.stderr, header
    # a second run of the same folder skips every completed stage
    again = run_cli("quickstart", *MICRO_QUICKSTART, "--resume", str(root), cwd=tmp_path, timeout=600)
    assert again.stderr.count("already completed, skipped") == 5


def test_unknown_stage_override_is_refused(tmp_path):
    proc = run_cli("quickstart", "ppo:rl.k=2", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "unknown quickstart stage 'ppo'" in proc.stderr
