"""Two processes on CPU (gloo) through `accelerate launch`."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

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
