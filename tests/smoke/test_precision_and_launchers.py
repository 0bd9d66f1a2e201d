"""bf16 autocast on CPU against float32, and the shipped accelerate configs launched on a CPU-only machine."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.conftest import FAST, run_cli
from tests.smoke.test_cli_dpo import DPO_FAST
from tests.smoke.test_cli_online import ONLINE_FAST

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a CPU-only machine does")


def _train_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == "train"]


def _close(a: float, b: float, rel: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rel * max(abs(a), abs(b), 1e-6)


@pytest.mark.parametrize("verb, args, keys", [
    ("sft", [*FAST, "train.log_every=1"], {"loss": 2e-2, "grad_norm": 5e-2}),
    ("dpo", DPO_FAST, {"logps_chosen": 1e-2, "logps_rejected": 1e-2, "grad_norm": 5e-2}),
])
def test_bf16_autocast_on_cpu_gives_the_float32_numbers_within_bf16_rounding(alignlab_home, tmp_path, verb, args, keys):
    """The first step (same starting weights, same batch): bf16's 8-bit mantissa allows about 1 % on a summed
    log-prob or loss, more on a gradient norm; both runs' every logged loss is finite."""
    rows = {}
    for mp in ("no", "bf16"):
        run_cli("train", verb, *args, "train.max_steps=2", f"train.mixed_precision={mp}", f"run_dir={tmp_path / mp}")
        rows[mp] = _train_rows(tmp_path / mp)
        assert rows[mp] and all(math.isfinite(r["loss"]) for r in rows[mp])
    for key, rel in keys.items():
        assert _close(rows["no"][0][key], rows["bf16"][0][key], rel), (key, rows["no"][0][key], rows["bf16"][0][key])


def test_bf16_autocast_on_cpu_trains_rloo(alignlab_home, tmp_path):
    run_dir = tmp_path / "rloo-bf16"
    run_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, "train.mixed_precision=bf16", f"run_dir={run_dir}")
    rows = _train_rows(run_dir)
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) and math.isfinite(r["reward_mean"]) for r in rows)
    assert (run_dir / "final").is_dir()


def _launch(config: str, tmp_path: Path, port: int) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).parent / "accelerate"
    cmd = [str(launcher), "launch", "--config_file", str(CONFIGS / f"{config}.yaml"), "--main_process_port", str(port),
           "-m", "alignlab", "train", "sft", *FAST, "train.max_steps=4", f"run_dir={tmp_path / config}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"PYTHONUNBUFFERED": "1"})


@cpu_only
def test_the_ddp_config_on_cpu_runs_two_gloo_processes(alignlab_home, tmp_path):
    proc = _launch("ddp", tmp_path, 29541)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((tmp_path / "ddp" / "checkpoints" / "step-4" / "state.json").read_text())
    assert state["world_size"] == 2 and (tmp_path / "ddp" / "final" / "model.safetensors").exists()


@cpu_only
def test_the_fsdp_config_on_cpu_stops_with_one_line_before_writing_anything(alignlab_home, tmp_path):
    proc = _launch("fsdp", tmp_path, 29543)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = "error: this launch asks for FSDP, which accelerate runs only on GPUs"
    assert line in out
    traceback = out.find("Traceback")  # torchrun reports the failed ranks after them, with its own traceback
    assert traceback == -1 or out.index(line) < traceback
    assert not (tmp_path / "fsdp").exists()


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="checks the message without deepspeed")
@pytest.mark.parametrize("stage", [2, 3])
def test_a_deepspeed_config_without_deepspeed_says_what_to_install(alignlab_home, tmp_path, stage):
    proc = _launch(f"deepspeed_zero{stage}", tmp_path, 29545)
    assert proc.returncode != 0 and "install deepspeed" in (proc.stdout + proc.stderr)
    assert not (tmp_path / f"deepspeed_zero{stage}").exists()
