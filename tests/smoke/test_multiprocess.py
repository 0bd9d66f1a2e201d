"""Two processes on CPU (gloo) through `accelerate launch`."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from tests.conftest import FAST


def test_accelerate_launch_two_cpu_processes(alignlab_home, tmp_path):
    run_dir = tmp_path / "ddp"
    launcher = Path(sys.executable).parent / "accelerate"  # the console script a user types
    cmd = [str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "alignlab", "train", "sft", *FAST,
           "train.max_steps=4", f"run_dir={run_dir}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"MASTER_PORT": "29531"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((run_dir / "checkpoints" / "step-4" / "state.json").read_text())
    assert state["world_size"] == 2
    assert (run_dir / "checkpoints" / "step-4" / "rng-1.json").exists()
    losses = [json.loads(x)["loss"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()
              if json.loads(x)["split"] == "train"]
    assert losses and all(math.isfinite(v) for v in losses)
    assert (run_dir / "final" / "model.safetensors").exists()


def test_two_processes_split_the_reference_precompute(alignlab_home, tmp_path):
    """Each process computes half of the reference log-probs; gathered, they equal a one-process pass."""
    from safetensors.torch import load_file
    from tests.conftest import run_cli
    from tests.smoke.test_cli_dpo import DPO_FAST

    args = [*DPO_FAST, "ref.mode=precomputed", "train.max_steps=2"]
    run_cli("train", "dpo", *args, f"ref.cache_dir={tmp_path}/one", f"run_dir={tmp_path}/single")
    launcher = Path(sys.executable).parent / "accelerate"
    cmd = [str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "alignlab", "train", "dpo", *args, f"ref.cache_dir={tmp_path}/two",
           f"run_dir={tmp_path}/ddp"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"MASTER_PORT": "29533"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = sorted((tmp_path / "one").glob("*.safetensors")), sorted((tmp_path / "two").glob("*.safetensors"))
    assert [p.name for p in one] == [p.name for p in two] and len(one) == 2  # same keys: train and eval
    for a, b in zip(one, two, strict=True):
        va, vb = load_file(a), load_file(b)
        for k in ("chosen", "rejected"):
            assert torch.allclose(va[k], vb[k], atol=1e-4)
    assert (tmp_path / "ddp" / "final" / "model.safetensors").exists()


def test_two_processes_run_the_online_loop_with_a_critic(alignlab_home, tmp_path):
    """PPO in 2 processes: each samples its share of prompts; policy and critic are DDP-wrapped."""
    from tests.smoke.test_cli_online import ONLINE_FAST

    run_dir = tmp_path / "ppo-ddp"
    launcher = Path(sys.executable).parent / "accelerate"
    cmd = [str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "alignlab", "train", "ppo", "-c", "ppo/reviews-tiny", *ONLINE_FAST,
           f"run_dir={run_dir}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"MASTER_PORT": "29535"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((run_dir / "checkpoints" / "step-2" / "state.json").read_text())
    assert state["world_size"] == 2 and (run_dir / "checkpoints" / "step-2" / "critic.safetensors").exists()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert len(train) == 2 and all(math.isfinite(r["value_loss"]) and math.isfinite(r["kl_k1"]) for r in train)
    assert (run_dir / "final" / "value" / "value_head.safetensors").exists()
