"""`alignlab quickstart`: the whole lab in one command on the built-in task.

base model → SFT → reward model (the proxy) → preference pairs scored by the proxy → DPO and RLOO from the SFT
model → the same evaluation of SFT, DPO and RLOO against SFT (gold = VADER next to the proxy) → report.

Every stage is an ordinary run directory under `runs/quickstart-TIME/` (sft/, rm/, pairs/, dpo/, rloo/), made
by the same code as the verbs, from the presets `configs/quickstart/*.yaml`. A stage that completed is skipped
when the quickstart is run again with `--resume`, and an interrupted one resumes from its checkpoint.
Overrides `key=value` apply to every stage; `STAGE:key=value` (e.g. `rloo:rl.iterations=10`) to one stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alignlab.config import Config, ConfigError, load_config
from alignlab.pipelines.builtins import ensure_builtins
from alignlab.pipelines.door import run_method
from alignlab.pipelines.evaluate import run_eval
from alignlab.report.run_report import write_report
from alignlab.runs.atomic import atomic_write_json
from alignlab.runs.progress import console
from alignlab.runs.rundir import RunDir

STAGES = ("sft", "rm", "pairs", "dpo", "rloo", "eval")
POLICIES = {"SFT": "sft", "DPO": "dpo", "RLOO": "rloo"}
"""Evaluated policies: table name → stage."""


@dataclass
class Stage:
    name: str
    """The stage's folder, its preset `quickstart/NAME` and the method of alignlab.methods that runs it."""
    wiring: Callable[[Path], list[str]]
    """Run folder of the quickstart → overrides that connect this stage to earlier ones."""


def _stages() -> list[Stage]:
    rm = lambda root: f"reward_model:{root / 'rm'}"  # noqa: E731
    sft = lambda root: f"model.name_or_path={root / 'sft'}"  # noqa: E731
    return [
        Stage("sft", lambda root: []),
        Stage("rm", lambda root: []),
        Stage("pairs", lambda root: [sft(root), f"reward.scorer={rm(root)}"]),
        Stage("dpo", lambda root: [sft(root), f"data.dataset={root / 'pairs'}"]),
        Stage("rloo", lambda root: [sft(root), f"reward.scorer={rm(root)}"]),
    ]


def split_overrides(overrides: list[str]) -> dict[str, list[str]]:
    """`key=value` → every stage; `STAGE:key=value` → that stage only (unknown stages are refused)."""
    out: dict[str, list[str]] = {s: [] for s in STAGES}
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in out:
                raise ConfigError(f"override '{item}': unknown quickstart stage '{head}'; stages: {', '.join(STAGES)}")
            out[head].append(rest)
        else:
            for s in STAGES:
                out[s].append(item)
    return out


def stage_config(stage: str, root: Path, overrides: list[str], wiring: list[str]) -> Config:
    return load_config(f"quickstart/{stage}", [*overrides, *wiring, f"run_dir={root / stage}"])


def _completed(path: Path) -> bool:
    return (path / "manifest.json").exists() and RunDir(path).manifest().get("status") == "completed"


def run_stage(stage: Stage, root: Path, overrides: list[str], command: str) -> float:
    """Run one stage (skipped when already completed, resumed when interrupted); returns its seconds."""
    path = root / stage.name
    if _completed(path):
        console.print(f"[dim]quickstart: {stage.name} already completed, skipped[/dim]")
        return 0.0
    t0 = time.time()
    console.rule(f"quickstart · {stage.name}")
    cfg = stage_config(stage.name, root, overrides, stage.wiring(root))
    run_method(stage.name, cfg, command=command, resume=path if (path / "config.yaml").exists() else None)
    return time.time() - t0


def evaluate_policies(root: Path, overrides: list[str]) -> dict[str, dict]:
    """The same evaluation of every policy: same prompts, seed and generation; KL to SFT; win rate vs SFT."""
    records = {}
    for name, stage in POLICIES.items():
        wiring = [f"eval.reference={root / 'sft'}", f"eval.baseline={root / 'sft'}",
                  f"eval.proxy=reward_model:{root / 'rm'}", f"eval.pairs={root / 'pairs'}", f"model.name_or_path={root / stage}", "run_dir=null"]
        cfg = load_config("quickstart/eval", [*overrides, *wiring])
        console.print(f"quickstart · eval {name}")
        ensure_builtins(cfg)
        records[name] = run_eval(cfg, str(root / stage), str(root / "sft"), root / stage / "eval",
                                 progress=cfg.logging.progress)
    return records


def quickstart_root(overrides: list[str], resume: Path | None) -> Path:
    if resume is not None:
        return resume
    cfg = load_config("quickstart/sft", split_overrides(overrides)["sft"])
    return Path(cfg.output_dir) / f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"


def run_quickstart(overrides: list[str], resume: Path | None = None, command: str = "alignlab quickstart") -> dict:
    """Every stage, then the evaluations and the report; returns the summary also written to quickstart.json."""
    t0 = time.time()
    per_stage = split_overrides(overrides)
    root = quickstart_root(overrides, resume)
    root.mkdir(parents=True, exist_ok=True)
    seconds = {s.name: round(run_stage(s, root, per_stage[s.name], command), 1) for s in _stages()}
    t_eval = time.time()
    records = evaluate_policies(root, per_stage["eval"])
    seconds["eval"] = round(time.time() - t_eval, 1)
    report = write_report([root / s for s in ("sft", "rm", "dpo", "rloo")], root / "report",
                          title=f"alignlab quickstart · {root.name}")
    summary = {"root": str(root), "seconds": round(time.time() - t0, 1), "stage_seconds": seconds,
               "report": report, "results": {name: {"metrics": rec["metrics"], "win_rate": rec["win_rate"],
                                                    "pairs": rec["pairs"], "perplexity": rec["perplexity"]}
                                             for name, rec in records.items()}}
    atomic_write_json(root / "quickstart.json", summary)
    return summary | {"records": records}
