"""`alignlab sweep -c SWEEP.yaml`: setup stages once, then every cell × seed (trained, then evaluated the same way).

The sweep folder holds everything:

    sweep-NAME/
      sweep.yaml      the sweep file as run (with the command-line overrides and the scale)
      state.json      every job: status, seconds, run folder
      setup/NAME/     the setup stages' run directories (setup/NAME-sSEED/ with setup_per_seed)
      cells/CELL-sSEED/   each cell's run directory, with eval/ (eval.json, samples.jsonl)
      ref-cache/      reference log-probs shared by the cells (ref.mode=precomputed)
      results.csv     one row per cell × seed;  summary.json: means with seed CIs and paired comparisons
      report/         the comparison report

Running the same command again continues: completed jobs are skipped and an interrupted one resumes from its last
checkpoint. A job that fails is recorded and the sweep goes on with the others; the command then exits non-zero.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import yaml

from alignlab.config import Config, ConfigError, load_config
from alignlab.config.moved import migrate_record
from alignlab.config.sweep import ANALYSIS_FIELDS, SweepSpec
from alignlab.experiments.aggregate import aggregate
from alignlab.experiments.spec import Job, expand, substitute
from alignlab.methods import METHODS, evaluates_only
from alignlab.pipelines.builtins import ensure_builtins
from alignlab.pipelines.door import run_method
from alignlab.pipelines.evaluate import run_eval
from alignlab.report.sweep_report import write_sweep_report
from alignlab.runs.atomic import append_line, atomic_write_json, atomic_write_text, folder_held
from alignlab.runs.metrics import read_jsonl
from alignlab.runs.progress import console, progress_bar
from alignlab.runs.rundir import RunDir
from alignlab.training.signals import Interrupted

QUIET = ["logging.progress=false"]


def completed(path: Path) -> bool:
    return (path / "manifest.json").exists() and RunDir(path).manifest().get("status") == "completed"


def default_root(spec: SweepSpec, quick: bool, output_dir: str = "runs") -> Path:
    return Path(output_dir) / f"sweep-{spec.name}{'-quick' if quick else ''}"


def claim_root(root: Path, spec: SweepSpec, overrides: list[str], quick: bool) -> None:
    """Write sweep.yaml, or check that the folder holds this same sweep (so a restart never mixes two).

    The seeds may differ: adding seeds to a finished sweep reuses its setup and its runs of the other seeds. The
    ANALYSIS_FIELDS may differ too: the runs are kept, the comparisons are recomputed, and the change is appended
    to analysis-changes.jsonl (read into the summary as `analysis_changed`).
    """
    text = _sweep_record(spec, overrides, quick)
    mine = root / "sweep.yaml"
    old = mine.read_text() if mine.exists() else text
    if old != text:
        old_record, new_record = migrate_record(yaml.safe_load(old)), yaml.safe_load(text)  # keys moved since
        before, after = _without_seeds(old_record), _without_seeds(new_record)
        if _without_analysis(before) != _without_analysis(after):
            raise ConfigError(f"{root} holds a different sweep (its sweep.yaml differs: another file, scale or "
                              f"overrides; only `seeds`, `description` and the analysis "
                              f"fields {', '.join(ANALYSIS_FIELDS)} may change); continue it with its own command, or give a new folder with -o")
        changed = [k for k in ANALYSIS_FIELDS if before["spec"].get(k) != after["spec"].get(k)]
        if changed:
            append_line(root / "analysis-changes.jsonl", json.dumps(
                {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "fields": changed,
                 "before": {k: before["spec"].get(k) for k in changed},
                 "after": {k: after["spec"].get(k) for k in changed}}))
            console.print(f"sweep · {root.name}: analysis changed after runs ({', '.join(changed)}); the runs are "
                          "kept, the comparisons recomputed, and the report marks them as declared after the runs")
        if _seeds_of(old_record) != _seeds_of(new_record):
            console.print(f"sweep · {root.name}: seeds changed to {spec.quick.seeds if quick else spec.seeds}; runs "
                          "of other seeds are kept")
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(mine, text)


def analysis_changes(root: Path) -> list[dict]:
    """The analysis changes made on a sweep folder after its first run (oldest first)."""
    path = root / "analysis-changes.jsonl"
    return read_jsonl(path)


def _sweep_record(spec: SweepSpec, overrides: list[str], quick: bool) -> str:
    return yaml.safe_dump({"spec": spec.model_dump(mode="json"), "overrides": overrides, "quick": quick},
                          sort_keys=False)


def _seeds_of(record: dict) -> tuple:
    spec = record["spec"]
    return (spec.get("seeds"), (spec.get("quick") or {}).get("seeds"),
            [o for o in record["overrides"] if o.split("=", 1)[0].strip() == "seeds"])


def _without_analysis(record: dict) -> dict:
    return {**record, "spec": {k: v for k, v in record["spec"].items() if k not in (*ANALYSIS_FIELDS, "description")}}


def _without_seeds(record: dict) -> dict:
    """A sweep record with its seed lists and seed overrides removed: what must match for a restart. The spec is
    read through the current schema first, so a field added since the folder was written (at its default) does
    not make the same sweep look different."""
    try:
        full = SweepSpec.model_validate(record["spec"]).model_dump(mode="json")
    except ValueError:  # a record this version cannot read: compare it as written
        full = record["spec"]
    spec = {k: v for k, v in full.items() if k != "seeds"}
    spec["quick"] = {k: v for k, v in (spec.get("quick") or {}).items() if k != "seeds"}
    overrides = [o for o in record["overrides"] if o.split("=", 1)[0].strip() != "seeds"]
    return {**record, "spec": spec, "overrides": overrides}


def placeholder_values(spec: SweepSpec, root: Path, seed: int | None = None) -> dict[str, str]:
    """`${NAME}` values of a run of `seed`: the sweep's vars, the sweep folder and each setup stage's folder (the
    stage of that seed with setup_per_seed)."""
    def stage(name: str) -> str:
        return str(root / "setup" / (f"{name}-s{seed}" if spec.setup_per_seed and seed is not None else name))

    return {**spec.vars, "sweep": str(root), **{s.name: stage(s.name) for s in spec.setup}}


def job_path(root: Path, job: Job) -> Path:
    return root / job.group / job.name


def job_config(job: Job, root: Path, values: dict, progress: bool) -> Config:
    extra = ([f"seed={job.seed}"] if job.seed is not None else []) + ([] if progress else QUIET)
    method = METHODS[job.verb]  # offline methods with a reference may precompute it: one cache for the sweep
    cache = [f"ref.cache_dir={root / 'ref-cache'}"] if method.kind == "offline" and "ref" in method.sections else []
    return load_config(job.config, [*cache, *(substitute(o, values) for o in job.overrides), *extra,
                                    f"run_dir={job_path(root, job)}"])


def train(job: Job, root: Path, values: dict, command: str, progress: bool) -> str:
    """Train one job (skip when completed, resume when interrupted); returns the model the cell started from."""
    path = job_path(root, job)
    if evaluates_only(job.verb):
        return substitute(job.model, values)
    cfg = job_config(job, root, values, progress)
    if not completed(path):
        resume = path if (path / "config.yaml").exists() else None
        run_method(job.verb, cfg, command=f"{command} [{job.name}]", resume=resume)
    return cfg.model.name_or_path


def evaluate(job: Job, spec: SweepSpec, root: Path, values: dict, start: str, progress: bool) -> None:
    """The sweep's common evaluation of one cell (skipped when eval/eval.json exists)."""
    path = job_path(root, job)
    if (path / "eval" / "eval.json").exists():
        return
    if evaluates_only(job.verb):
        model = substitute(job.model, values)
    else:  # an inference cell (best-of-n) trained nothing: the model it sampled from is evaluated
        model = start if METHODS[job.verb].kind == "inference" else str(path)
    vals = values | {"start": start}
    cfg = load_config(spec.eval_config, [*(substitute(o, vals) for o in job.eval_overrides), f"seed={job.seed}",
                                         f"model.name_or_path={model}", "run_dir=null", *([] if progress else QUIET)])
    ensure_builtins(cfg, models=(model, start))
    run_eval(cfg, model, start, path / "eval", progress=progress)


def run_job(job: Job, spec: SweepSpec, root: Path, command: str, progress: bool, threads: int | None = None) -> dict:
    """Train and evaluate one job; returns its state record (never raises for an ordinary failure)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    values = placeholder_values(spec, root, job.seed)
    t0 = time.time()
    try:
        start = train(job, root, values, command, progress)
        if job.group == "cells":
            evaluate(job, spec, root, values, start, progress)
        status, error = "completed", None
    except (KeyboardInterrupt, SystemExit, Interrupted):
        raise  # the user stopped the sweep: the run wrote its checkpoint, the next start resumes it
    except Exception as exc:  # noqa: BLE001 - one failed cell must not lose the others
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        (job_path(root, job)).mkdir(parents=True, exist_ok=True)
        atomic_write_text(job_path(root, job) / "sweep-error.txt", traceback.format_exc())
    return {"job": job.name, "cell": job.cell, "seed": job.seed, "group": job.group, "verb": job.verb, "grid": job.grid,
            "status": status, "error": error, "seconds": round(time.time() - t0, 1),
            "path": str(job_path(root, job))}


class State:
    """state.json: one record per job, written after every job (a crash loses nothing already done)."""

    def __init__(self, root: Path):
        import json

        self.path = root / "state.json"
        self.jobs: dict[str, dict] = json.loads(self.path.read_text())["jobs"] if self.path.exists() else {}

    def done(self, job: Job) -> bool:
        rec = self.jobs.get(job.name)
        return rec is not None and rec["status"] == "completed"

    def record(self, rec: dict) -> None:
        self.jobs[rec["job"]] = rec
        atomic_write_json(self.path, {"jobs": self.jobs})


def _announce(i: int, n: int, job: Job, t0: float, done_seconds: list[float]) -> None:
    eta = (sum(done_seconds) / len(done_seconds) * (n - i + 1)) if done_seconds else None
    console.rule(f"sweep · job {i}/{n} · {job.name} ({job.verb})  elapsed {time.time() - t0:.0f} s"
                 + (f"  eta {eta / 60:.1f} min" if eta is not None else ""))


def run_sequential(jobs: list[Job], spec: SweepSpec, root: Path, state: State, command: str, progress: bool,
                   offset: int, total: int, t0: float) -> None:
    spent: list[float] = []
    for i, job in enumerate(jobs, start=offset + 1):
        if state.done(job):
            console.print(f"[dim]sweep · job {i}/{total} · {job.name}: already completed, skipped[/dim]")
            continue
        _announce(i, total, job, t0, spent)
        rec = run_job(job, spec, root, command, progress)
        state.record(rec)
        spent.append(rec["seconds"])
        if rec["status"] == "failed":
            console.print(f"[red]sweep · {job.name} failed: {rec['error']}[/red] (traceback in {rec['path']}/sweep-error.txt)")
            if job.group == "setup":
                raise ConfigError(f"setup stage '{job.name}' failed ({rec['error']}); the cells need it")


def run_parallel(jobs: list[Job], spec: SweepSpec, root: Path, state: State, command: str, n: int,
                 offset: int, total: int) -> None:
    """Cells in `n` worker processes (spawned), each with cores / n threads; progress bars off in workers."""
    todo = [j for j in jobs if not state.done(j)]
    threads = max(1, (os.cpu_count() or 1) // n)
    console.print(f"sweep · {len(todo)} cell run(s) in {n} processes × {threads} thread(s)"
                  f" ({len(jobs) - len(todo)} already completed)")
    with ProcessPoolExecutor(n, mp_context=get_context("spawn")) as pool, \
            progress_bar(f"sweep {spec.name}", total, completed=total - len(todo)) as bar:
        futures = {pool.submit(run_job, j, spec, root, command, False, threads): j for j in todo}
        for k, fut in enumerate(as_completed(futures), start=1):
            rec = fut.result()
            state.record(rec)
            bar.update(total - len(todo) + k, last=rec["job"], status=rec["status"])
            if rec["status"] == "failed":
                console.print(f"[red]sweep · {rec['job']} failed: {rec['error']}[/red]")


def run_sweep(spec: SweepSpec, overrides: list[str], quick: bool = False, root: Path | None = None,
              jobs: int = 1, command: str = "alignlab sweep", progress: bool = True) -> dict:
    """Run (or continue) a sweep; then aggregate and write the report. Returns the summary."""
    setup, cells = expand(spec, overrides, quick)
    root = (root or default_root(spec, quick, _output_dir(setup, cells))).resolve()  # workers, resumes: any cwd
    with folder_held(root, "sweep"):  # one process per sweep folder: a second one would run every job twice
        claim_root(root, spec, overrides, quick)
        state = State(root)
        total, t0 = len(setup) + len(cells), time.time()
        console.print(f"sweep {spec.name}{' (quick)' if quick else ''}: {len(setup)} setup stage(s), {len(cells)} cell "
                      f"run(s) = {len({c.cell for c in cells})} cell(s) × {len({c.seed for c in cells})} seed(s) → {root}")
        run_sequential(setup, spec, root, state, command, progress, 0, total, t0)
        if jobs > 1:
            run_parallel(cells, spec, root, state, command, jobs, len(setup), total)
        else:
            run_sequential(cells, spec, root, state, command, progress, len(setup), total, t0)
        summary = aggregate(spec, root, [j for j in cells if state.done(j)], quick)
        summary["failed"] = sorted(name for name, r in state.jobs.items() if r["status"] == "failed")
        summary["analysis_changed"] = analysis_changes(root)
        summary["seconds"] = round(time.time() - t0, 1)
        atomic_write_json(root / "summary.json", summary)  # before the report: a report error loses no number
        summary["report"] = write_sweep_report(root, summary)
        atomic_write_json(root / "summary.json", summary)
        return summary


def _output_dir(setup: list[Job], cells: list[Job]) -> str:
    """The runs' `output_dir` (from the first job's config) holds the sweep folder by default."""
    first = (setup or cells)[0]
    if first.config is None:
        return "runs"
    return load_config(first.config, [o for o in first.overrides if "${" not in o]).output_dir
