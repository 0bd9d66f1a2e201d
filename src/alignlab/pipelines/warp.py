"""`alignlab train warp`: WARP (Ramé et al. 2024, "WARP: On the Benefits of Weight Averaged Rewarded
Policies") on the online loop.

    θ_init ← the starting model
    for i in 1..I (warp.iterations):
        θ_m ← RL run from θ_init with seed s_im, m = 1..M (warp.runs)    KL to the run's own EMA anchor (ref.mode=ema)
        θ_slerp ← θ_init + SLERP(θ_1 − θ_init, …, θ_M − θ_init; λ)       per tensor, on task vectors
        θ_init ← (1 − η)·θ_init + η·θ_slerp                              LITI: the next round starts here
    final/ ← the last θ_init

Run directory:
    RUN/iter-i/run-m/   a complete online run (config, metrics, samples, checkpoints, final/)
    RUN/iter-i/slerp/   the round's SLERP (save_pretrained + merge.json with the mean angle between task vectors)
    RUN/iter-i/liti/    the next round's init (the last round's is RUN/final/)
    RUN/warp.json       held-out evaluation of the starting model, every run, SLERP, LITI and sweep point:
                        reward, gold reward and KL to the starting model, on the same prompts and seed
    RUN/reward_kl.png   those points in the reward–KL plane, with the sweeps θ_start → last θ_slerp and
                        θ_start → the last round's first run as curves
Every step is kept on disk as it finishes: `--resume` skips finished runs, merges and evaluations and resumes an
interrupted run from its last checkpoint. With several processes the runs train on all of them; merging and
evaluation run on the main process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from alignlab.algorithms.reference import FrozenCopy
from alignlab.config import Config, ConfigError
from alignlab.data.sft import sampling_chat
from alignlab.data.sources import load_prompts
from alignlab.evaluation.policy import EVAL_SEED_OFFSET, HeldOut, evaluate_policy
from alignlab.models.merge import liti, mean_task_vector_angle, slerp_merge, snapshot
from alignlab.pipelines.common import (
    agreed_run_path,
    close_run,
    make_accelerator,
    open_run_dir,
    resolve_data,
    resolve_model,
    status_on_error,
)
from alignlab.pipelines.merge import load_full, load_state, save_merged
from alignlab.pipelines.online import check_online_config, run_online
from alignlab.report.warp import WarpReport
from alignlab.rewards import build_scorer
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import console
from alignlab.runs.rundir import RunDir


def check_warp_config(cfg: Config) -> None:
    if cfg.ref.mode not in ("auto", "ema", "copy", "adapter"):
        raise ConfigError(f"ref.mode={cfg.ref.mode}: train warp runs allow ema (WARP's anchor; auto picks it), "
                          "copy or adapter (ablations with a fixed anchor)")
    if not cfg.data.eval_split:
        raise ConfigError("data.eval_split: train warp evaluates every run and merge on held-out prompts; name "
                          "the held-out split")
    check_online_config(run_config(cfg, cfg.model.name_or_path, 1, 1, Path(".")), cfg.warp.algorithm)


def run_config(cfg: Config, init: str, i: int, m: int, path: Path) -> Config:
    """Run m of round i: starts from `init`, has its own seed (cfg.seed for the first run) and its own run dir."""
    model = cfg.model if i == 1 else cfg.model.model_copy(update={"name_or_path": init, "gguf_file": None,
                                                                  "tokenizer": None})
    ref = cfg.ref.model_copy(update={"mode": "ema" if cfg.ref.mode == "auto" else cfg.ref.mode})
    return cfg.model_copy(update={"model": model, "ref": ref, "seed": cfg.seed + 1000 * (i - 1) + (m - 1),
                                  "name": f"{cfg.name}-iter{i}-run{m}", "run_dir": str(path)})


def run_warp(cfg: Config, command: str = "", resume: Path | None = None) -> dict:
    """I rounds of M runs → SLERP → LITI, evaluated; returns {"run_dir", "report", "final"}. Its checks ran at the
    door (`pipelines/door.py`)."""
    path = agreed_run_path(cfg, resume)
    acc = make_accelerator(cfg, None)
    run = open_run_dir(cfg, path, command, resuming=resume is not None, is_main=acc.is_main_process)
    report = WarpReport(path / "warp.json")
    start = resolve_model(cfg.model).name_or_path
    w = cfg.warp
    if acc.is_main_process:
        console.print(f"WARP: {w.iterations} rounds x {w.runs} {w.algorithm} runs of {cfg.rl.iterations} iterations; "
                      f"SLERP lambda {w.lam}, LITI eta {w.eta}, EMA anchor mu {cfg.ref.ema_mu}; KL beta {cfg.kl.beta}")
        run.update_manifest(warp={"start": start, **w.model_dump()})
    with status_on_error(acc, run):
        evaluator = Evaluator(cfg, start, run) if acc.is_main_process else None
        init = start
        for i in range(1, w.iterations + 1):
            finals = [train_run(cfg, init, i, m, path, command) for m in range(1, w.runs + 1)]
            nxt = path / "final" if i == w.iterations else path / f"iter-{i}" / "liti"
            if acc.is_main_process:
                merge_round(cfg, init, finals, path / f"iter-{i}", nxt)
                evaluate_round(evaluator, report, i, finals, path / f"iter-{i}", nxt)
            acc.wait_for_everyone()
            init = str(nxt)
        if acc.is_main_process:
            sweep(evaluator, report, cfg, start, path / f"iter-{w.iterations}")
            report.plot(path / "reward_kl.png")
            run.update_manifest(warp_summary=report.summary())
    close_run(acc, run, "completed")
    return {"run_dir": str(run.path), "is_main_process": acc.is_main_process, "report": report,
            "final": str(path / "final")}


def train_run(cfg: Config, init: str, i: int, m: int, path: Path, command: str) -> Path:
    """Run m of round i (skipped when finished, resumed when interrupted); returns its final/ folder."""
    sub = RunDir(path / f"iter-{i}" / f"run-{m}")
    if sub.manifest().get("status") == "completed" and sub.final.is_dir():
        return sub.final
    resuming = sub.config_file.exists()
    if sub.path.exists() and not resuming:
        shutil.rmtree(sub.path)  # created but never configured: nothing to keep
    console.print(f"[bold]WARP round {i}/{cfg.warp.iterations}, run {m}/{cfg.warp.runs}[/bold]"
                  + (" (resuming)" if resuming else ""))
    run_online(run_config(cfg, init, i, m, sub.path), cfg.warp.algorithm, command=f"{command} # round {i} run {m}",
               resume=sub.path if resuming else None)
    return sub.final


def merge_round(cfg: Config, init: str, finals: list[Path], folder: Path, nxt: Path) -> None:
    """SLERP of the runs' task vectors → folder/slerp; LITI towards it → `nxt` (each skipped if present)."""
    if nxt.is_dir():
        return
    model, tokenizer = load_full(init, cfg.model)
    init_state = snapshot(model)  # a detached copy: `model` is overwritten with the merges below
    slerp_dir = folder / "slerp"
    if slerp_dir.is_dir():
        merged = load_state(str(slerp_dir), cfg.model)
    else:
        thetas = [load_state(str(f), cfg.model) for f in finals]
        merged = slerp_merge(init_state, thetas, cfg.warp.lam)
        angle = mean_task_vector_angle(init_state, thetas) * 57.29577951308232
        save_merged(model, tokenizer, merged, slerp_dir, {"method": "slerp", "base": init, "lam": cfg.warp.lam,
                                                          "models": [str(f) for f in finals],
                                                          "mean_task_vector_angle_deg": round(angle, 3)})
        console.print(f"SLERP of {len(finals)} runs (mean angle between task vectors {angle:.1f} deg) → {slerp_dir}")
    save_merged(model, tokenizer, liti(init_state, merged, cfg.warp.eta), nxt,
                {"method": "liti", "base": init, "models": [str(slerp_dir)], "eta": cfg.warp.eta})
    console.print(f"LITI (eta {cfg.warp.eta}) → {nxt}")


class Evaluator:
    """Held-out evaluation of any model against the starting model (the KL reference of every WARP number)."""

    def __init__(self, cfg: Config, start: str, run: RunDir):
        from accelerate import PartialState

        self.device = PartialState().device
        self.start = start
        self.template = cfg.model
        self.log = MetricsLog(run.metrics_file)
        reference = FrozenCopy(load_full(start, cfg.model)[0].to(self.device))
        prompts = load_prompts(resolve_data(cfg.data), cfg.data.eval_split)[: cfg.eval.prompts]
        scorer = build_scorer(cfg.reward.scorer, cfg.reward, device=str(self.device), progress=False)
        gold = (build_scorer(cfg.eval.gold, cfg.reward, device=str(self.device), progress=False)
                if cfg.eval.gold else None)
        self.held = HeldOut(prompts, cfg.eval.k, cfg.seed + EVAL_SEED_OFFSET, cfg.generation, scorer, gold, reference,
                            chat=sampling_chat(cfg.data), chunk_tokens=cfg.model.chunk_tokens)
        self._work = None  # a model to load interpolated weights into

    def folder(self, source: str) -> dict:
        model, tokenizer = load_full(source, self.template)
        return evaluate_policy(model.to(self.device), tokenizer, self.held)[0]

    def state(self, state: dict, like: str) -> dict:
        if self._work is None:
            self._work = load_full(like, self.template)
        model, tokenizer = self._work
        model.load_state_dict(state)
        return evaluate_policy(model.to(self.device), tokenizer, self.held)[0]

    def record(self, report: WarpReport, key: str, fields: dict, compute) -> None:
        if key in report.entries:
            return
        metrics = compute()
        report.add(key, fields | metrics)
        self.log.log(len(report.entries), "warp", {"model": key} | fields | metrics)
        console.print(f"  {key:18} reward {metrics['reward_mean']:+.4f}  KL {metrics.get('kl_k1', 0.0):.3f}")


def evaluate_round(ev: Evaluator, report: WarpReport, i: int, finals: list[Path], folder: Path, nxt: Path) -> None:
    console.print(f"evaluating round {i} on {len(ev.held.prompts)} held-out prompts x {ev.held.k}")
    if i == 1:
        ev.record(report, "start", {"kind": "start", "iteration": 0, "path": ev.start}, lambda: ev.folder(ev.start))
    for m, final in enumerate(finals, start=1):
        ev.record(report, f"iter-{i}/run-{m}", {"kind": "run", "iteration": i, "path": str(final)},
                  lambda f=final: ev.folder(str(f)))
    ev.record(report, f"iter-{i}/slerp", {"kind": "slerp", "iteration": i, "path": str(folder / "slerp")},
              lambda: ev.folder(str(folder / "slerp")))
    kind = "final" if nxt.name == "final" else "liti"
    ev.record(report, "final" if kind == "final" else f"iter-{i}/liti", {"kind": kind, "iteration": i, "path": str(nxt)},
              lambda: ev.folder(str(nxt)))


def sweep(ev: Evaluator, report: WarpReport, cfg: Config, start: str, last_round: Path) -> None:
    """Models on the path θ_start → θ_slerp of the last round, (1 − η)·θ_start + η·θ_slerp for η in warp.sweep,
    and (warp.sweep_run) on the path to that round's first run: the single-run curve the merge is judged against."""
    if not cfg.warp.sweep:
        return
    targets = {"slerp": last_round / "slerp"} | ({"run-1": last_round / "run-1" / "final"} if cfg.warp.sweep_run else {})
    a = load_state(start, cfg.model)
    for target, folder in targets.items():
        console.print(f"sweep start → {folder}: eta {cfg.warp.sweep}")
        b = load_state(str(folder), cfg.model)
        prefix = "sweep" if target == "slerp" else f"sweep-{target}"
        for eta in cfg.warp.sweep:
            ev.record(report, f"{prefix}/eta={eta:g}", {"kind": "sweep", "target": target, "eta": eta},
                      lambda e=eta, b=b: ev.state(liti(a, b, e), start))
