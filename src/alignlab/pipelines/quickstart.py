"""`alignlab quickstart`: the whole lab in one command on the built-in task.

base model → SFT → reward model (the proxy) → preference pairs scored by the proxy → DPO and RLOO from the SFT
model → the same evaluation of SFT, DPO and RLOO against SFT (gold = the task's judge next to the proxy) → report.

Every stage is an ordinary run directory under `runs/quickstart-TIME/` (sft/, rm/, pairs/, dpo/, rloo/), made
by the same code as the verbs, from the presets `configs/quickstart/*.yaml`; the stages, their wiring and
the evaluated policies are the plan `configs/quickstart/stages.yaml`. A stage that completed is skipped
when the quickstart is run again with `--resume`, and an interrupted one resumes from its checkpoint.
Overrides `key=value` apply to every stage; `STAGE:key=value` (e.g. `rloo:rl.iterations=10`) to one stage.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field, ValidationError

from alignlab.config import Config, ConfigError, load_config
from alignlab.config.common import Section
from alignlab.config.loader import format_validation_error, read_yaml
from alignlab.config.presets import resolve_preset
from alignlab.methods import METHODS
from alignlab.pipelines.builtins import ensure_builtins
from alignlab.pipelines.door import run_method
from alignlab.pipelines.evaluate import run_eval
from alignlab.report.run_report import write_report
from alignlab.runs.atomic import atomic_write_json
from alignlab.runs.progress import console
from alignlab.runs.rundir import RunDir

EVAL_STAGE = "eval"
"""The name `STAGE:key=value` overrides of the evaluations use."""


class Stage(Section):
    name: str
    """The stage's folder, its preset `quickstart/NAME` and the method of alignlab.methods that runs it."""
    wiring: list[str] = Field(default_factory=list)
    """Overrides that connect this stage to earlier ones; `{root}` is the quickstart folder."""


class Plan(Section):
    """The quickstart's plan: preset `quickstart/stages`."""

    stages: list[Stage]
    """The training and data stages, in order."""
    evaluate: dict[str, str]
    """Evaluated policies: table name → stage."""
    eval_wiring: list[str] = Field(default_factory=list)
    """Overrides of every evaluation (reference, baseline, proxy, pairs); `{root}` is the quickstart folder."""
    baseline: str
    """The stage every policy is compared with (win rate, KL)."""
    report: list[str]
    """Stages whose runs the report shows."""

    @property
    def names(self) -> list[str]:
        return [*(s.name for s in self.stages), EVAL_STAGE]


def load_plan(preset: str = "quickstart/stages") -> Plan:
    """The plan, validated; a stage that is not a registered method fails in one line."""
    try:
        plan = Plan.model_validate(read_yaml(resolve_preset(preset)))
    except ValidationError as exc:
        raise ConfigError(f"{preset}: {format_validation_error(exc, Plan)}") from None
    unknown = [s.name for s in plan.stages if s.name not in METHODS]
    if unknown:
        raise ConfigError(f"{preset}: stage {unknown[0]} is not a method; methods: {', '.join(METHODS)}")
    return plan


def _wire(items: list[str], root: Path) -> list[str]:
    return [item.replace("{root}", str(root)) for item in items]


def split_overrides(overrides: list[str], plan: Plan) -> dict[str, list[str]]:
    """`key=value` → every stage; `STAGE:key=value` → that stage only (unknown stages are refused)."""
    stages = plan.names
    out: dict[str, list[str]] = {s: [] for s in stages}
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in out:
                raise ConfigError(f"override '{item}': unknown quickstart stage '{head}'; stages: {', '.join(stages)}")
            out[head].append(rest)
        else:
            for s in stages:
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
    cfg = stage_config(stage.name, root, overrides, _wire(stage.wiring, root))
    run_method(stage.name, cfg, command=command, resume=path if (path / "config.yaml").exists() else None)
    return time.time() - t0


def evaluate_policies(root: Path, overrides: list[str], plan: Plan) -> dict[str, dict]:
    """The same evaluation of every policy: same prompts, seed and generation; KL to and win rate against the
    baseline stage."""
    records = {}
    for name, stage in plan.evaluate.items():
        wiring = [*_wire(plan.eval_wiring, root), f"model.name_or_path={root / stage}", "run_dir=null"]
        cfg = load_config(f"quickstart/{EVAL_STAGE}", [*overrides, *wiring])
        console.print(f"quickstart · eval {name}")
        ensure_builtins(cfg)
        records[name] = run_eval(cfg, str(root / stage), str(root / plan.baseline), root / stage / "eval",
                                 progress=cfg.logging.progress)
    return records


def quickstart_root(overrides: list[str], resume: Path | None, plan: Plan) -> Path:
    if resume is not None:
        return resume
    first = plan.stages[0].name
    cfg = load_config(f"quickstart/{first}", split_overrides(overrides, plan)[first])
    return Path(cfg.output_dir) / f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}"


def run_quickstart(overrides: list[str], resume: Path | None = None, command: str = "alignlab quickstart") -> dict:
    """Every stage, then the evaluations and the report; returns the summary also written to quickstart.json."""
    t0 = time.time()
    plan = load_plan()
    per_stage = split_overrides(overrides, plan)
    root = quickstart_root(overrides, resume, plan)
    root.mkdir(parents=True, exist_ok=True)
    seconds = {s.name: round(run_stage(s, root, per_stage[s.name], command), 1) for s in plan.stages}
    t_eval = time.time()
    records = evaluate_policies(root, per_stage[EVAL_STAGE], plan)
    seconds[EVAL_STAGE] = round(time.time() - t_eval, 1)
    report = write_report([root / s for s in plan.report], root / "report",
                          title=f"alignlab quickstart · {root.name}")
    summary = {"root": str(root), "seconds": round(time.time() - t0, 1), "stage_seconds": seconds,
               "report": report, "results": {name: {"metrics": rec["metrics"], "win_rate": rec["win_rate"],
                                                    "pairs": rec["pairs"], "perplexity": rec["perplexity"]}
                                             for name, rec in records.items()}}
    atomic_write_json(root / "quickstart.json", summary)
    return summary | {"records": records}
