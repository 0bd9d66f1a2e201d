"""The `alignlab` command line.

    alignlab train sft -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab train rm -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab train dpo -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab train reinforce|rloo|ppo|grpo -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab train warp -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab merge MODEL ... --method linear|task_arithmetic|slerp|liti [--base INIT] --out DIR
    alignlab export MODEL -o DIR
    alignlab pairs -c CONFIG [key=value ...] [--resume [RUN_DIR]]
    alignlab base build [--name builtin:reviews-tiny] [--force]
    alignlab generate -m MODEL [-p PROMPT ...] [key=value ...]
    alignlab config show -c CONFIG [key=value ...] [--explain]
    alignlab eval MODEL [--baseline B] [-c CONFIG] [key=value ...]
    alignlab report RUN_DIR ... [-o DIR]
    alignlab quickstart [key=value | STAGE:key=value ...] [--resume DIR]
    alignlab sweep -c SWEEP [key=value | TARGET:key=value | vars.NAME=value ...] [--quick] [--jobs N] [-o DIR]

"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from alignlab import __version__
from alignlab.cli.errors import friendly_errors
from alignlab.runs.progress import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="alignlab: train and compare LLM post-training methods on one config and one evaluation.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model with one method.")
base_app = typer.Typer(no_args_is_help=True, help="The built-in base models.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect configs.")
app.add_typer(train_app, name="train")
app.add_typer(base_app, name="base")
app.add_typer(config_app, name="config")

CONFIG_OPT = typer.Option(None, "--config", "-c", help="YAML config file or packaged preset (e.g. sft/reviews-tiny).")
OVERRIDES_ARG = typer.Argument(None, help="Overrides such as optimizer.lr=1e-4 lora.r=8.", show_default=False)
RESUME_LATEST = "__latest__"
ACCEPT_OPT = typer.Option(False, "--accept-config-change", help="With --resume: continue although the run's "
                          "settings differ from its checkpoint's (changes are recorded in the manifest).")
RESUME_OPT = typer.Option(None, "--resume", help="Continue an interrupted run: RUN_DIR, or the newest run of this "
                          "config's name when given without a value.")


def _version(value: bool):
    if value:
        typer.echo(f"alignlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    _quiet_libraries()


@config_app.command("show")
@friendly_errors
def config_show(config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG,
                explain: bool = typer.Option(False, "--explain", help="List every field with its description.")):
    """Print the resolved config (preset + overrides), or the field reference with --explain: type, default (and,
    with -c or overrides, the value where it differs from the default) and description of every field."""
    from alignlab.config import dump_config, load_config
    from alignlab.config.loader import explain_config, yaml_value

    if explain:
        chosen = load_config(config, overrides) if (config or overrides) else None
        for key, kind, default, doc in explain_config():
            value = chosen
            for part in key.split(".") if chosen is not None else ():
                value = getattr(value, part)
            shown = f"default {default}" + ("" if chosen is None or yaml_value(value) == default
                                            else f", here {yaml_value(value)}")
            typer.echo(f"{key:34} {kind:28} {shown:30} {doc}")
        return
    typer.echo(dump_config(load_config(config, overrides)), nl=False)


def _print_offline(result: dict) -> None:
    _print_result(result)
    if result.get("reference"):
        ref = result["reference"]
        cache = "  ".join(f"{s} cache {ref[f'{s}_cache']}" for s in ("train", "eval") if f"{s}_cache" in ref)
        console.print(f"reference: {ref['mode']} ({ref['strategy']}), {result['reference_passes']} reference "
                      f"passes during training" + (f"; {cache}" if cache else ""))


def _print_online(result: dict) -> None:
    ev, tr = result.get("eval") or {}, result.get("train") or {}
    console.print(f"[bold]run directory:[/bold] {result['run_dir']}")
    shown = "  ".join(f"{k} {ev[k]:+.4f}" for k in ("reward_mean", "gold_reward_mean", "kl_k1", "kl_k3",
                                                   "entropy", "identical_fraction") if k in ev)
    console.print(f"iterations {result['steps']}  train reward {tr.get('reward_mean', float('nan')):+.4f}  "
                  f"held-out: {shown}")


def _print_composite(result: dict) -> None:
    """A composite method's report object prints itself (`print_summary(console)`); else its run directory."""
    report = result.get("report")
    if hasattr(report, "print_summary"):
        report.print_summary(console)
    console.print(f"[bold]run directory:[/bold] {result['run_dir']}")


PRINTERS = {"offline": _print_offline, "online": _print_online, "composite": _print_composite}


def add_train_commands(group: typer.Typer) -> None:
    """One `train NAME` command per training method of the registry (alignlab.methods), plug-ins included."""
    from alignlab.methods import METHODS, TRAINING_KINDS

    for method in METHODS.values():
        if method.kind in TRAINING_KINDS:
            group.command(method.name, help=method.help)(_train_command(method))


def _train_command(method):
    @friendly_errors
    def command(config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG, resume: str = RESUME_OPT,
                accept_config_change: bool = ACCEPT_OPT):
        result = _run(method.name, config, overrides, resume, accept_config_change)
        if not result.get("is_main_process", True):
            return
        PRINTERS[method.kind](result)
        if result.get("hint"):
            console.print(result["hint"])

    command.__name__ = f"train_{method.name}"
    return command


add_train_commands(train_app)


@app.command("merge")
@friendly_errors
def merge_cmd(models: list[str] = typer.Argument(..., help="Models to merge: folders, run directories, adapters, "
                                                 "builtin:NAME."),
              method: str = typer.Option("slerp", "--method", help="linear | task_arithmetic | slerp | liti."),
              base: str = typer.Option(None, "--base", help="The common init (task-vector methods: "
                                       "task_arithmetic, slerp, liti)."),
              weights: str = typer.Option(None, "--weights", help="Comma-separated weights (linear, "
                                          "task_arithmetic); default 1/M each."),
              lam: float = typer.Option(0.5, "--lam", help="SLERP lambda (weight of the second model)."),
              eta: float = typer.Option(0.5, "--eta", help="LITI eta: (1 - eta) x base + eta x model."),
              out: Path = typer.Option(..., "--out", "-o", help="New folder for the merged save_pretrained model.")):
    """Merge saved models into one save_pretrained folder (LoRA adapters are merged into their base first)."""
    from alignlab.config import ConfigError
    from alignlab.pipelines.builtins import ensure_specs
    from alignlab.pipelines.merge import merge_models

    try:
        w = [float(x) for x in weights.split(",")] if weights else None
    except ValueError:
        raise ConfigError(f"--weights {weights!r}: expected comma-separated numbers such as 0.7,0.3") from None
    ensure_specs(models=(*models, base))
    info = merge_models(list(models), method, out, base=base, weights=w, lam=lam, eta=eta)
    angle = info.get("mean_task_vector_angle_deg")
    console.print(f"merged {len(models)} model(s) with {method} → {info['out']}"
                  + (f"  (mean angle between task vectors {angle:.1f} deg)" if angle is not None else ""))


@app.command("export")
@friendly_errors
def export_cmd(model: str = typer.Argument(..., help="Run directory, adapter folder, .gguf file, folder, Hub id or "
                                           "builtin:NAME."),
               out: Path = typer.Option(..., "--out", "-o", help="New folder for the plain save_pretrained model.")):
    """Write a model as a plain full-weight folder (a LoRA adapter merged into its base, a GGUF file de-quantised)
    that plain transformers loads."""
    from alignlab.pipelines.builtins import ensure_specs
    from alignlab.pipelines.merge import export_model

    ensure_specs(models=(model,))
    info = export_model(model, out)
    console.print(f"exported {model} ({info['parameters']:,} parameters) → {info['out']}")


@app.command("eval")
@friendly_errors
def eval_cmd(model: str = typer.Argument(..., help="Run directory, save_pretrained folder, adapter, Hub id or builtin:NAME."),
             config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG,
             baseline: str = typer.Option(None, "--baseline", "-b", help="Model to compute the win rate against "
                                          "(same as eval.baseline=...)."),
             reference: str = typer.Option(None, "--reference", help="Model for KL (default: the run's start model)."),
             out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: RUN_DIR/eval/, or "
                                      "runs/eval-NAME-TIME/ for other models).")):
    """Evaluate a model: proxy + gold reward, KL to a reference with a CI, diversity, lengths, win rate vs a
    baseline, pair accuracy, perplexity. Writes eval.json and samples.jsonl."""
    from alignlab.pipelines.builtins import ensure_builtins
    from alignlab.pipelines.evaluate import default_out_dir, eval_config, run_eval
    from alignlab.report.evaluation import print_eval

    extra = ([f"eval.baseline={baseline}"] if baseline else []) + ([f"eval.reference={reference}"] if reference else [])
    cfg, start = eval_config(model, config, [*(overrides or []), *extra])
    ensure_builtins(cfg, models=(model, start))
    record = run_eval(cfg, model, start, out or default_out_dir(cfg, model), progress=cfg.logging.progress)
    print_eval(record)


@app.command("pairs")
@friendly_errors
def pairs_cmd(config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG, resume: str = RESUME_OPT,
              accept_config_change: bool = ACCEPT_OPT):
    """Build a preference dataset: sample N completions per prompt, score, filter, pair, write dataset + report."""
    from alignlab.pipelines.pairs import summary_lines

    result = _run("pairs", config, overrides, resume, accept_config_change)
    summary_lines(result["report"])
    console.print(f"[bold]run directory:[/bold] {result['run_dir']}  (dataset/, jsonl/, pairs_report.json, "
                  f"gap_histogram.png) in {result['seconds']:.0f} s")
    console.print(f"train on it with: data.dataset={result['run_dir']}")


@app.command("bon")
@friendly_errors
def bon_cmd(config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG, resume: str = RESUME_OPT):
    """Best-of-n: sample bon.n replies per held-out prompt, keep the proxy's best; gold and proxy against √KL."""
    result = _run("bon", config, overrides, resume)
    console.print(f"[bold]run directory:[/bold] {result['run_dir']}  (best_of_n.json, samples.jsonl, metrics.jsonl) "
                  f"in {result['seconds']:.0f} s; its report: alignlab report {result['run_dir']}")


@base_app.command("build")
@friendly_errors
def base_build(name: str = typer.Option("builtin:reviews-tiny", "--name", help="Built-in model or dataset to "
                                        "build (alignlab base list)."),
               force: bool = typer.Option(False, "--force", help="Rebuild even if cached.")):
    """Build a built-in model (pretrain or fine-tune it) or dataset into the cache; later uses load it from there."""
    from alignlab.models.builtin import BUILTIN_DATASETS
    from alignlab.pipelines.builtins import ensure_builtin, ensure_dataset

    name = name if name.startswith("builtin:") else f"builtin:{name}"
    try:
        path = ensure_dataset(name, force=force) if name in BUILTIN_DATASETS else ensure_builtin(name, force=force)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    typer.echo(str(path))


@base_app.command("list")
def base_list():
    """List the built-in models and datasets and where they are cached."""
    from alignlab.models.builtin import (
        ALL_RECIPES,
        BUILTIN_DATASETS,
        PREFIX,
        built_dataset,
        built_model,
        cache_dir,
        dataset_dir,
    )

    for key in ALL_RECIPES:
        path = cache_dir(PREFIX + key)
        typer.echo(f"{PREFIX + key:24} {'built' if built_model(path) else 'not built':10} {path}")
    for name in BUILTIN_DATASETS:
        path = dataset_dir(name)
        typer.echo(f"{name:24} {'built' if built_dataset(path) else 'not built':10} {path}")


@app.command("generate")
@friendly_errors
def generate_cmd(model: str = typer.Option("builtin:reviews-tiny", "--model", "-m",
                                           help="Hub id, folder, adapter folder, run directory or builtin:NAME."),
                 prompt: list[str] = typer.Option(None, "--prompt", "-p", help="A prompt (repeatable)."),
                 prompts_file: Path = typer.Option(None, "--prompts-file", help="Text file, one prompt per line."),
                 n_prompts: int = typer.Option(8, "--n-prompts", help="Built-in test prompts when none are given."),
                 k: int = typer.Option(1, "--k", "-k", min=1, help="Replies sampled per prompt."),
                 chat: bool = typer.Option(None, "--chat/--no-chat", help="Wrap prompts with the chat template "
                                           "(same as data.chat=true); default: as the model's run was trained."),
                 out: Path = typer.Option(None, "--out", help="Write records to this JSONL file."),
                 quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary line."),
                 config: str = CONFIG_OPT, overrides: list[str] = OVERRIDES_ARG):
    """Sample completions from any model (left-padded batches); prints each with its gold score (the built-in
    task's judge) and the mean."""
    from alignlab.config import load_config
    from alignlab.data.sft import sampling_chat
    from alignlab.pipelines.builtins import ensure_builtins
    from alignlab.pipelines.common import resolve_chat
    from alignlab.pipelines.generate import builtin_prompts, mean_and_stderr, sample, write_jsonl

    chat_set = [] if chat is None else [f"data.chat={str(chat).lower()}"]
    cfg = load_config(config, [f"model.name_or_path={model}", *(overrides or []), *chat_set])
    ensure_builtins(cfg)
    chat = sampling_chat(resolve_chat(cfg).data)
    prompts = list(prompt or [])
    if prompts_file:
        prompts += [ln for ln in prompts_file.read_text().splitlines() if ln.strip()]
    prompts = prompts or builtin_prompts("test", n_prompts, cfg.seed)
    records = sample(cfg.model, prompts, cfg.generation, cfg.seed, chat=chat, progress=cfg.logging.progress, k=k)
    for r in records if not quiet else []:
        console.print(f"[dim]{r['prompt']}[/dim][bold]{r['completion']}[/bold]  [cyan](gold {r['gold']:.2f})[/cyan]",
                      highlight=False)
    mean, stderr = mean_and_stderr([r["gold"] for r in records])
    console.print(f"gold reward (review_judge) of {len(records)} completions from {len(prompts)} prompts: "
                  f"mean {mean:+.4f} ± {stderr:.4f} (standard error)")
    if out:
        write_jsonl(records, out)
        console.print(f"wrote {len(records)} records to {out}")


@app.command("quickstart")
@friendly_errors
def quickstart(overrides: list[str] = OVERRIDES_ARG,
               resume: str = typer.Option(None, "--resume", help="Continue a quickstart folder: completed stages "
                                          "are skipped, an interrupted one resumes.")):
    """The whole lab on the built-in task: base → SFT → RM → pairs → DPO and RLOO → eval vs SFT → report.
    Overrides apply to every stage; STAGE:key=value (sft, rm, pairs, dpo, rloo, eval) to one."""
    from alignlab.pipelines.quickstart import run_quickstart
    from alignlab.report.evaluation import print_comparison

    if resume == RESUME_LATEST:
        raise typer.BadParameter("give the quickstart folder to continue, e.g. runs/quickstart-20261122-101500",
                                 param_hint="--resume")
    s = run_quickstart(list(overrides or []), Path(resume) if resume else None, command=_command_line())
    print_comparison(s["records"], title="quickstart: SFT, DPO and RLOO on the same evaluation (baseline: SFT)")
    gold = next(iter(s["records"].values()))["scorers"]["gold"]
    judge = " (the task's judge, in [0, 1], never a training signal)" if str(gold).startswith("review_judge") else ""
    console.print(f"gold = {gold}{judge}, 95% CI over the replies; "
                  "proxy = the quickstart reward model (trained on judge labels); KL = sequence KL to "
                  "SFT on each policy's own samples; entropy = pooled per-prompt token entropy; dist-2 = distinct "
                  "bigrams; win rate vs SFT judged by gold, ties count half")
    for name, rec in s["records"].items():
        pairs, ppl = rec.get("pairs") or {}, (rec.get("perplexity") or {}).get("perplexity", float("nan"))
        if pairs:
            console.print(f"  {name}: held-out pairs: implicit-reward accuracy {pairs['pair_accuracy']:.3f} (margin "
                          f"{pairs['reward_margin']:+.3f}; 0 for SFT, its own reference), log-prob preference "
                          f"{pairs['logp_accuracy']:.3f}; perplexity {ppl:.2f}")
    console.print(f"[bold]report:[/bold] {s['report']['html']}")
    console.print(f"[bold]runs:[/bold] {s['root']}  done in {s['seconds']:.0f} s "
                  f"({', '.join(f'{k} {v:.0f} s' for k, v in s['stage_seconds'].items())})")


@app.command("sweep")
@friendly_errors
def sweep_cmd(config: str = typer.Option(..., "--config", "-c", help="Sweep file or packaged study preset "
                                         "(e.g. studies/dpo-divergences)."),
              overrides: list[str] = OVERRIDES_ARG,
              quick: bool = typer.Option(False, "--quick", help="The sweep's quick scale (a few minutes on CPU)."),
              jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Cell runs in parallel processes."),
              out: Path = typer.Option(None, "--out", "-o", help="Sweep folder (default: runs/sweep-NAME[-quick]); "
                                       "running the same command again continues it.")):
    """Run a sweep: setup stages once, then every cell x seed (trained, evaluated the same way), then results.csv,
    seed CIs, paired comparisons with the baseline and the comparison report. Resumable."""
    from alignlab.experiments.spec import load_sweep
    from alignlab.pipelines.sweep import run_sweep
    from alignlab.report.sweep_print import print_sweep

    items = list(overrides or [])
    spec = load_sweep(config, items, quick)
    summary = run_sweep(spec, items, quick=quick, root=out, jobs=jobs, command=_command_line())
    print_sweep(summary)
    if summary["failed"]:
        raise typer.Exit(1)


@app.command("report")
@friendly_errors
def report_cmd(runs: list[Path] = typer.Argument(..., help="Run directories (or a folder of runs, e.g. a quickstart)."),
               out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: RUN_DIR/report for one "
                                        "run, runs/report-TIME for several).")):
    """A self-contained HTML page (plus markdown) of runs: config, curves, reward vs KL / diversity, win rates,
    diagnostics flags, generations side by side. A sweep folder gives its comparison report."""
    import time

    from alignlab.report.run_report import write_report

    for r in runs:
        if not r.exists():
            raise typer.BadParameter(f"'{r}' does not exist", param_hint="RUNS")
    if len(runs) == 1 and (runs[0] / "summary.json").exists():
        from alignlab.report.sweep_report import write_sweep_report

        paths = write_sweep_report(runs[0], out=out)
        console.print(f"sweep report: {paths['html']} (and {paths['markdown']})")
        return
    default = runs[0] / "report" if len(runs) == 1 else Path("runs") / f"report-{time.strftime('%Y%m%d-%H%M%S')}"
    paths = write_report(list(runs), out or default)
    console.print(f"report of {len(paths['runs'])} run(s): {paths['html']} (and {paths['markdown']})")


def _run(method: str, config, overrides, resume, accept_config_change: bool = False) -> dict:
    """Resolve the config (or the resumed run's own) and run a registered method through the door (built-ins
    ensured first) with the command line recorded."""
    from alignlab.pipelines.door import run_method

    cfg, resume_dir = _config_for(config, overrides, resume, accept_config_change)
    return run_method(method, cfg, command=_command_line(), resume=resume_dir)


def _config_for(config, overrides, resume, accept_config_change: bool = False):
    """Fresh runs read CONFIG + overrides; a resumed run reads its own config.yaml, with overrides of the fields in
    RESUME_OVERRIDABLE only (any field with --accept-config-change), written back to config.yaml and listed in
    the manifest's `resume_overrides`; then config.yaml is checked against the checkpoint's settings."""
    import os

    from alignlab.config import ConfigError, dump_config, load_config
    from alignlab.config.loader import RESUME_OVERRIDABLE
    from alignlab.pipelines.common import check_resume_config
    from alignlab.runs.atomic import atomic_write_text
    from alignlab.runs.rundir import RunDir, latest_run

    if resume is None:
        return load_config(config, overrides), None
    for item in overrides or []:
        key = item.partition("=")[0].strip()
        if not key.startswith(RESUME_OVERRIDABLE) and not accept_config_change:
            raise ConfigError(f"--resume: {key} cannot change in a resumed run (it would change the steps already "
                              f"taken); allowed: {', '.join(k + ('*' if k.endswith('.') else '') for k in RESUME_OVERRIDABLE)} "
                              "(any field with --accept-config-change)")
    if resume == RESUME_LATEST:
        name_cfg = load_config(config, [])
        found = latest_run(name_cfg.output_dir, name_cfg.name)
        if found is None:
            raise ConfigError(f"--resume: no run named '{name_cfg.name}' under {name_cfg.output_dir}/")
        resume = str(found)
    run_dir = Path(resume)
    cfg = load_config(run_dir / "config.yaml", list(overrides or []), saved=True)
    run = RunDir(run_dir)
    if run.manifest().get("status") == "completed":
        raise ConfigError(f"--resume: run {run_dir} already completed")
    check_resume_config(cfg, run_dir, accept_config_change)
    if overrides and os.environ.get("RANK", "0") == "0":  # one writer under a multi-process launch
        atomic_write_text(run.config_file, dump_config(cfg))
        run.update_manifest(resume_overrides=[*run.manifest().get("resume_overrides", []), *overrides])
    return cfg.model_copy(update={"run_dir": str(run_dir)}), run_dir


def _print_result(result: dict) -> None:
    if not result.get("is_main_process", True):
        return
    ev, tr = result.get("eval") or {}, result.get("train") or {}
    console.print(f"[bold]run directory:[/bold] {result['run_dir']}")
    shown = "  ".join(f"held-out {k} {v:.4f}" for k, v in ev.items() if k in ("loss", "perplexity", "accuracy", "margin"))
    console.print(f"steps {result['steps']}  train loss {tr.get('loss', float('nan')):.4f}  {shown}".rstrip())


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in ["alignlab", *sys.argv[1:]])


def _quiet_libraries() -> None:
    import os
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # peft still reads this deprecated transformers attribute; the warning is theirs, not the user's.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import datasets

    datasets.utils.logging.disable_progress_bar()  # our own bars report the long steps


def _expand_bare_resume(argv: list[str]) -> list[str]:
    """`--resume` with no value (end of line, or followed by an option or override) means the newest run."""
    out = list(argv)
    for i, arg in enumerate(out):
        nxt = out[i + 1] if i + 1 < len(out) else None
        if arg == "--resume" and (nxt is None or nxt.startswith("-") or "=" in nxt):
            out.insert(i + 1, RESUME_LATEST)
            break
    return out


def main() -> None:
    from alignlab.cli.launch import relaunch_distributed, requested_cpu_processes

    sys.argv[1:] = _expand_bare_resume(sys.argv[1:])
    n = requested_cpu_processes()
    if n > 1:
        sys.exit(relaunch_distributed(n, sys.argv[1:]))
    app(prog_name="alignlab")


if __name__ == "__main__":
    main()
