"""Make `accelerate launch --cpu --num_processes N` start N processes.

accelerate's CPU launcher starts a single process unless an MPI launcher is configured, and it does not
pass N on. When we run under it (ACCELERATE_USE_CPU set, no WORLD_SIZE) we read N from the launcher's
command line and re-run ourselves under torch.distributed.run, so the N processes join one gloo group.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def requested_cpu_processes() -> int:
    if os.environ.get("ACCELERATE_USE_CPU", "").lower() != "true" or "WORLD_SIZE" in os.environ:
        return 1
    try:
        argv = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return 1
    if not any("accelerate" in a for a in argv):
        return 1
    for i, arg in enumerate(argv):
        for flag in ("--num_processes", "--num-processes"):
            if arg == flag and i + 1 < len(argv) and argv[i + 1].isdigit():
                return int(argv[i + 1])
            if arg.startswith(flag + "="):
                return int(arg.split("=", 1)[1])
    return 1


def relaunch_distributed(n: int, argv: list[str]) -> int:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
           "--master_port", os.environ.get("MASTER_PORT", "29500"), "-m", "alignlab", *argv]
    return subprocess.run(cmd).returncode
