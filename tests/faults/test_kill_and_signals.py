"""kill -9 at a random point of each verb, then `--resume`: the same weights and the same records as an
uninterrupted run (LoRA with dropout included), no duplicate line. Signals anywhere end with a message, a manifest
that says `interrupted`, and a run that resumes."""

from __future__ import annotations

import json
import random
import signal

import pytest

from tests.conftest import MICRO, run_cli
from tests.faults.helpers import QUIET_SETTINGS, SFT, events, one_line_error, run_patched, weights

KILL = "os.kill(os.getpid(), signal.SIGKILL)"
DPO = ["-c", "dpo/reviews-tiny", f"model.name_or_path={MICRO}", "data.dataset=builtin:reviews-prefs",
       "data.max_train_samples=48", "data.max_eval_samples=8", "data.max_length=64", "train.batch_size=8",
       "train.max_steps=10", "train.log_every=1", "train.eval_every=3", "train.save_every=3",
       "train.eval_train_samples=8", "train.keep_checkpoints=10", *QUIET_SETTINGS]
RLOO = [f"model.name_or_path={MICRO}", "rl.iterations=6", "rl.prompts_per_iteration=4", "rl.k=3",
        "eval.in_training_prompts=4", "eval.in_training_k=2", "generation.max_new_tokens=12", "train.batch_size=4",
        "train.log_every=1", "train.eval_every=2", "train.save_every=2", "train.keep_checkpoints=10",
        *QUIET_SETTINGS]
PAIRS = ["-c", "pairs/reviews-tiny", f"model.name_or_path={MICRO}", "pairs.max_prompts=6", "pairs.k=4",
         "pairs.min_tokens=0", "generation.max_new_tokens=12", "generation.batch_size=2", *QUIET_SETTINGS]
LORA_DROPOUT = ["lora.r=4", "lora.dropout=0.05", "model.disable_dropout=false"]

CASES = {  # verb, its settings, the function killed at its n-th call, the range n is drawn from
    "sft full": (["train", "sft", *SFT], ("alignlab.algorithms.sft", "SFT", "loss", (2, 16))),
    "sft lora dropout": (["train", "sft", *SFT, *LORA_DROPOUT], ("alignlab.algorithms.sft", "SFT", "loss", (2, 16))),
    "dpo lora dropout": (["train", "dpo", *DPO, *LORA_DROPOUT],
                         ("alignlab.algorithms.dpo", "PreferenceOptimisation", "loss", (2, 10))),
    "rloo lora dropout": (["train", "rloo", *RLOO, *LORA_DROPOUT], ("alignlab.training.online", "", "iteration", (2, 6))),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("draw", [0, 1])
def test_kill_9_then_resume_equals_uninterrupted(alignlab_home, tmp_path, case, draw):
    args, (module, cls, method, (lo, hi)) = CASES[case]
    when = random.Random(f"{case}-{draw}").randint(lo, hi)
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli(*args, f"run_dir={full}")
    proc = run_patched(tmp_path, (module, cls, method, when), KILL, *args, f"run_dir={killed}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run_cli(args[0], *args[1:2], "--resume", str(killed))
    assert weights(killed) == weights(full), f"killed at call {when}"
    assert events(killed) == events(full), f"killed at call {when}"


def test_pairs_killed_mid_chunk_resumes_without_duplicate_samples(alignlab_home, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli("pairs", *PAIRS, f"run_dir={full}")
    proc = run_patched(tmp_path, ("alignlab.pipelines.pairs", "", "sample_completions", 3), KILL,
                       "pairs", *PAIRS, f"run_dir={killed}")
    assert proc.returncode == -signal.SIGKILL
    # a torn last record, as a kill during the write would leave it
    samples = killed / "samples.jsonl"
    samples.write_bytes(samples.read_bytes() + b'{"split": "train", "round": 1, "prom')
    run_cli("pairs", "--resume", str(killed))
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    keys = [(r["split"], r["round"], r["prompt"]) for r in lines]
    assert len(keys) == len(set(keys)), "a sample record was written twice"
    for split in ("train", "validation"):
        assert (killed / "jsonl" / f"{split}.jsonl").read_text() == (full / "jsonl" / f"{split}.jsonl").read_text()


def _manifest(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.mark.parametrize("where", ["final save", "final evaluation", "setup"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_outside_the_loop_ends_with_a_message_and_resumes(alignlab_home, tmp_path, where, sig):
    run = tmp_path / "run"
    target = {"final save": ("alignlab.pipelines.offline", "", "save_final", 1),
              "final evaluation": ("alignlab.training.loop", "", "finish", 1),
              "setup": ("alignlab.pipelines.offline", "", "start_trackers", 1)}[where]
    proc = run_patched(tmp_path, target, f"os.kill(os.getpid(), signal.{sig})", "train", "sft", *SFT,
                       f"run_dir={run}")
    number = getattr(signal, sig)
    assert proc.returncode == 128 + number, proc.stderr[-2000:]
    assert one_line_error(proc) and f"stopped by {sig}" in proc.stderr
    assert _manifest(run)["status"] == "interrupted"
    assert not list(run.glob(".*.tmp")) and not (run / "final").exists()
    run_cli("train", "sft", "--resume", str(run))
    assert _manifest(run)["status"] == "completed" and (run / "final" / "model.safetensors").exists()


def test_double_ctrl_c_stops_at_once_with_a_message(alignlab_home, tmp_path):
    run = tmp_path / "run"
    twice = "os.kill(os.getpid(), signal.SIGINT); os.kill(os.getpid(), signal.SIGINT)"
    proc = run_patched(tmp_path, ("alignlab.algorithms.sft", "SFT", "loss", 6), twice, "train", "sft", *SFT,
                       f"run_dir={run}")
    assert proc.returncode == 130 and one_line_error(proc), proc.stderr[-2000:]
    assert "second Ctrl-C" in proc.stderr
    assert _manifest(run)["status"] == "interrupted"
    run_cli("train", "sft", "--resume", str(run))
    assert _manifest(run)["status"] == "completed"
