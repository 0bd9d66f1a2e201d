"""Time `alignlab quickstart` from a fresh machine against its 5-minute budget (DEVELOPERS.md: timings belong in a
benchmark, not in a timed test).

    python benchmarks/quickstart_time.py                   # empty ALIGNLAB_HOME: builds the base model and SFT too
    python benchmarks/quickstart_time.py --warm            # reuse $ALIGNLAB_HOME (built-ins already cached)
    python benchmarks/quickstart_time.py --out bench.json

Runs the real CLI in a temporary folder and reports the wall time, each stage's seconds (from quickstart.json),
the gold of each evaluated policy with its 95% CI, and whether the budget was met. The machine's load changes
the result: run it with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 300


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", action="store_true", help="keep $ALIGNLAB_HOME (built-ins cached) instead of an empty one")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if not args.warm:
            env["ALIGNLAB_HOME"] = str(Path(tmp) / "home")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "alignlab", "quickstart", "logging.report_to=[]",
                        "logging.progress=false"], cwd=tmp, env=env, check=True)
        wall = time.perf_counter() - start
        summary = json.loads(next((Path(tmp) / "runs").glob("quickstart-*/quickstart.json")).read_text())
    gold = {}
    for name, res in summary["results"].items():
        m = res["metrics"]
        half = 1.96 * m.get("gold_reward_stderr", 0.0)
        gold[name] = [m["gold_reward_mean"], m["gold_reward_mean"] - half, m["gold_reward_mean"] + half]
    result = {"wall_s": round(wall, 1), "budget_s": BUDGET_S, "within_budget": wall < BUDGET_S,
              "fresh_home": not args.warm, "stage_seconds": summary["stage_seconds"], "gold_and_ci": gold,
              "cpus": os.cpu_count()}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
