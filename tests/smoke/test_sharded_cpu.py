"""FSDP 2 on CPU: torch's `fully_shard` runs over gloo processes (accelerate itself runs FSDP only on GPUs, so
its FSDP config cannot be launched here; see test_precision_and_launchers.py)."""

import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("fsdp2_worker.py")


def test_ema_anchor_follows_a_policy_sharded_over_two_cpu_processes():
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561", str(WORKER)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=os.environ | {"PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    assert "EMA OK rank 0" in out and "EMA OK rank 1" in out
