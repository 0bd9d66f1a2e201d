"""`alignlab report RUN_DIR…`: one self-contained HTML page (plus markdown) about one or more runs.

It holds each run's config and manifest, its loss and metric curves (train vs held-out, per epoch where the run
has epochs), reward-vs-KL and reward-vs-diversity scatters of the runs' evaluations (eval/eval.json), the win-rate
table with CIs, the diagnostics flags and generations side by side. Plots are matplotlib PNGs, embedded as
base64 data, so the page needs no other file and no network; the same PNGs are also written next to it for the
markdown version. No script runs in the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alignlab.evaluation.overoptimisation import FORM_TEXT, fit  # noqa: E402
from alignlab.report.page import Page, image, save_figure, table  # noqa: E402
from alignlab.runs.metrics import read_jsonl, read_metrics  # noqa: E402
from alignlab.runs.progress import console  # noqa: E402
from alignlab.runs.rundir import integrity_warning  # noqa: E402

CURVE_METRICS = ("loss", "accuracy", "reward_mean", "gold_reward_mean", "kl_k1", "pooled_entropy")
CURVE_SPLITS = {"train": "-", "train_eval": "--", "eval": "o-", "eval_samples": "s:", "best_of_n": "d-"}
SAMPLE_PROMPTS = 6
def expand_runs(paths: list[Path]) -> list[Path]:
    """Run directories as given; a folder of runs (e.g. a quickstart) stands for the runs inside it."""
    out = []
    for p in paths:
        if (p / "config.yaml").exists():
            out.append(p)
        else:
            inner = sorted(q for q in p.iterdir() if (q / "config.yaml").exists()) if p.is_dir() else []
            if not inner:
                raise FileNotFoundError(f"'{p}' is not an alignlab run directory (no config.yaml) and holds none")
            out += inner
    return out


def _read_json(path: Path) -> dict | None:
    """A run's JSON record; None (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        console.print(f"[yellow]warning:[/yellow] {path} is unreadable; left out of the report", highlight=False)
        return None
    return data if isinstance(data, dict) else None


def load_run(path: Path) -> dict:
    metrics = read_metrics(path) if (path / "metrics.jsonl").exists() else []
    samples = path / "eval" / "samples.jsonl"
    damaged = integrity_warning(path)
    if damaged:
        console.print(f"[yellow]warning:[/yellow] {damaged}", highlight=False)
    return {"name": path.name, "path": str(path),
            "config": (path / "config.yaml").read_text(encoding="utf-8", errors="replace"),
            "manifest": _read_json(path / "manifest.json") or {}, "metrics": metrics,
            "eval": _read_json(path / "eval" / "eval.json"), "diagnostics": _read_json(path / "diagnostics.json"),
            "samples": read_jsonl(samples)}


def _x(row: dict, by_epoch: bool) -> float:
    return row["epoch"] if by_epoch else row["step"]


def curve_figure(run: dict, out: Path) -> Path | None:
    """One panel per metric the run logged; one line per split (train, train_eval, eval, eval_samples)."""
    rows = [r for r in run["metrics"] if r["split"] in CURVE_SPLITS]
    shown = [m for m in CURVE_METRICS if any(isinstance(r.get(m), (int, float)) for r in rows)]
    if not shown:
        return None
    epochs = {r["epoch"] for r in rows if r.get("epoch") is not None}
    by_epoch = len(epochs) > 1 and all(r.get("epoch") is not None for r in rows)
    cols = min(3, len(shown))
    n_rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.8 * cols, 2.9 * n_rows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, shown, strict=False):
        for split, style in CURVE_SPLITS.items():
            pts = [(_x(r, by_epoch), r[metric]) for r in rows if r["split"] == split and isinstance(r.get(metric), (int, float))]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=split, markersize=4)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("epoch" if by_epoch else "step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(run["name"], fontsize=10)
    return save_figure(fig, out)


def scatter_figure(runs: list[dict], out: Path) -> Path | None:
    """Reward vs KL (with the KL's 95% CI) and reward vs diversity of every evaluated run."""
    evals = [(r["name"], r["eval"]["metrics"]) for r in runs if r["eval"]]
    if not evals:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, m in evals:
        reward = m.get("gold_reward_mean", m["reward_mean"])
        kl = m.get("kl_k1", 0.0)
        err = [[kl - m.get("kl_ci_low", kl)], [m.get("kl_ci_high", kl) - kl]]
        a.errorbar([kl], [reward], xerr=err, fmt="o", capsize=3, label=name)
        b.plot([m["pooled_entropy"]], [reward], "o", label=name)
    a.set_xlabel("KL to reference (sequence, k1)")
    b.set_xlabel("diversity (pooled per-prompt token entropy)")
    for ax in (a, b):
        ax.set_ylabel("gold reward" if "gold_reward_mean" in evals[0][1] else "reward")
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    return save_figure(fig, out)


def gold_kl_curves(runs: list[dict]) -> dict[str, list[tuple[float, float, float]]]:
    """Per run with at least two held-out evaluations that logged gold and KL (split `eval` of the online methods,
    `eval_samples` of sft and dpo, `best_of_n` of `alignlab bon`, one point per n): [(√KL, gold, proxy)] in step
    order."""
    curves = {}
    for r in runs:
        pts = [(x["sqrt_kl"], x["gold_reward_mean"], x["reward_mean"]) for x in r["metrics"]
               if x["split"] in GOLD_KL_SPLITS and "sqrt_kl" in x and "gold_reward_mean" in x]
        if len(pts) > 1:
            curves[r["name"]] = pts
    return curves


GOLD_KL_SPLITS = {"eval": "rl", "eval_samples": "rl", "best_of_n": "bon"}
"""metrics.jsonl split of a run's held-out curve → the Gao et al. form fitted to its gold."""


def _form(run: dict) -> str:
    return next((GOLD_KL_SPLITS[x["split"]] for x in run["metrics"] if x["split"] in GOLD_KL_SPLITS), "rl")


def _fit(form: str, pts: list[tuple[float, float, float]]):
    return fit(form, [p[0] for p in pts], [p[1] for p in pts]) if len(pts) >= 3 else None


def overoptimisation_figure(runs: list[dict], out: Path) -> Path | None:
    """Gold and proxy reward against √KL along each run (over n for best-of-n), one line per run, with the form
    of Gao et al. (2022) fitted to gold (dashed; RL: d(α − β log d), best-of-n: d(α − βd)): where gold levels off
    or turns down while the proxy keeps rising, the proxy is being over-optimised."""
    curves = gold_kl_curves(runs)
    if not curves:
        return None
    forms = {r["name"]: _form(r) for r in runs}
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, pts in curves.items():
        d, gold, proxy = zip(*pts, strict=True)
        line, = a.plot(d, gold, "o-", markersize=4, label=name)
        b.plot(d, proxy, "o-", markersize=4, label=name)
        f = _fit(forms[name], pts)
        if f is not None:
            grid = [f.d_max * i / 50 for i in range(51)]
            a.plot(grid, f.predict(grid), "--", color=line.get_color(), alpha=0.6,
                   label=f"{name}: fit {FORM_TEXT[forms[name]]}")
    for ax, label in ((a, "gold reward"), (b, "proxy reward (training signal)")):
        ax.set_xlabel("√KL to the reference")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    return save_figure(fig, out)


def overoptimisation_rows(runs: list[dict]) -> list[list[str]]:
    """Per run with at least three evaluations: the fitted form and where its gold peaks."""
    rows = []
    forms = {r["name"]: _form(r) for r in runs}
    for name, pts in gold_kl_curves(runs).items():
        f = _fit(forms[name], pts)
        if f is None:
            continue
        peak = ("no peak (β ≤ 0)" if f.kl_peak is None else
                f"{f.kl_peak:.2f}" + ("" if f.peak_observed else f" (beyond the measured {f.d_max ** 2:.2f})"))
        rows.append([name, str(len(pts)), FORM_TEXT[forms[name]], f"{f.alpha:+.3f}", f"{f.beta:+.3f}", peak])
    return rows


OVEROPTIMISATION_HEADERS = ["run", "evaluations", "form", "α", "β", "KL at the fitted gold peak"]


def win_rows(runs: list[dict]) -> list[list[str]]:
    rows = []
    for r in runs:
        win = (r["eval"] or {}).get("win_rate")
        if not win:
            continue
        lc = win.get("length_controlled")
        rows.append([r["name"], win["baseline"], f"{win['win_rate']:.3f}", f"[{win['ci_low']:.3f}, {win['ci_high']:.3f}]",
                     f"{win['wins']:.0%} / {win['ties']:.0%} / {win['losses']:.0%}",
                     f"{lc['win_rate']:.3f} [{lc['ci_low']:.3f}, {lc['ci_high']:.3f}]" if lc else "-",
                     r["eval"]["scorers"]["judge"], str(win["n"])])
    return rows


WIN_HEADERS = ["run", "baseline", "win rate", "95% CI", "wins / ties / losses", "length-controlled [CI]", "judge",
               "pairs"]


def flag_rows(runs: list[dict]) -> list[list[str]]:
    rows = []
    for r in runs:
        d = r["diagnostics"]
        if d is None:
            rows.append([r["name"], "-", "no diagnostics.json (run older than the diagnostics, or not finished)"])
        elif not d["flags"]:
            rows.append([r["name"], "none", "no over-fitting or reward-hacking flag"])
        rows += [[r["name"], f["kind"], f["message"]] for f in (d or {}).get("flags", [])]
    return rows


def sample_rows(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Generations side by side: the first prompts of the evaluation, one reply per run."""
    with_samples = [r for r in runs if r["samples"]]
    if not with_samples:
        return [], []
    prompts = list(dict.fromkeys(s["prompt"] for s in with_samples[0]["samples"]))[:SAMPLE_PROMPTS]
    rows = []
    for p in prompts:
        cells = [p]
        for r in with_samples:
            s = next((x for x in r["samples"] if x["prompt"] == p), None)
            cells.append("-" if s is None else f"{s['completion']}  ({_score_text(s)})")
        rows.append(cells)
    return ["prompt", *(r["name"] for r in with_samples)], rows


def _score_text(s: dict) -> str:
    parts = [f"proxy {s['reward']:+.2f}"] + ([f"gold {s['gold']:+.2f}"] if "gold" in s else [])
    return ", ".join(parts)


def run_section(run: dict, out: Path) -> tuple[str, str]:
    e, m = html.escape, run["manifest"]
    info = (f"status {m.get('status', '?')} · wall time {m.get('wall_time_s', 0):.0f} s · "
            f"command <code>{e(m.get('command', ''))}</code>")
    img_h, img_md = image(curve_figure(run, out / f"curves-{run['name']}.png"))
    manifest = json.dumps(m, indent=1)
    h = (f"<h3>{e(run['name'])}</h3><p class=dim>{e(run['path'])}<br>{info}</p>{img_h}"
         f"<details><summary>config.yaml</summary><pre>{e(run['config'])}</pre></details>"
         f"<details><summary>manifest.json</summary><pre>{e(manifest)}</pre></details>")
    md = (f"### {run['name']}\n\n`{run['path']}`: status {m.get('status', '?')}, wall time "
          f"{m.get('wall_time_s', 0):.0f} s, command `{m.get('command', '')}`\n\n{img_md}\n\n"
          f"<details><summary>config.yaml</summary>\n\n```yaml\n{run['config']}```\n</details>\n")
    return h, md


def write_report(paths: list[Path], out: Path, title: str = "alignlab report") -> dict:
    """Write out/report.html (self-contained) and out/report.md (+ PNGs); returns their paths."""
    from alignlab.report.evaluation import COMPARISON_HEADERS, comparison_rows

    runs = [load_run(p) for p in expand_runs([Path(p) for p in paths])]
    out.mkdir(parents=True, exist_ok=True)
    page = Page(title)
    section = page.section
    evaluated = {r["name"]: r["eval"] for r in runs if r["eval"]}
    section("Evaluation", table(COMPARISON_HEADERS, comparison_rows(evaluated)) if evaluated else None,
            "gold and proxy reward, KL to the reference on the samples, diversity and win rate (eval/eval.json)"
            if evaluated else "no run has an evaluation yet: run alignlab eval RUN_DIR")
    section("Reward vs KL and reward vs diversity", image(scatter_figure(runs, out / "scatter.png")) if evaluated else None)
    over = overoptimisation_figure(runs, out / "gold-proxy-sqrt-kl.png")
    section("Gold and proxy against √KL along each run", image(over) if over else None,
            "each run's held-out evaluations during training: gold levelling off or falling while the proxy rises "
            "is over-optimisation of the proxy; dashed: gold − gold(start) = d(α − β log d), d = √KL, fitted "
            "(Gao et al. 2022; one run, a description, not a test)" if over
            else "no run logged two evaluations with gold and KL")
    fits = overoptimisation_rows(runs)
    if fits:
        page.add(table(OVEROPTIMISATION_HEADERS, fits))
    wins = win_rows(runs)
    section("Win rates", table(WIN_HEADERS, wins) if wins else None,
            "ties are counted separately; the win rate counts a tie as half a win; CIs are bootstrap 95%")
    section("Diagnostics", table(["run", "flag", "detail"], flag_rows(runs)))
    headers, rows = sample_rows(runs)
    section("Generations side by side", table(headers, rows) if rows else None,
            "the same held-out prompts and sampling seed for every run")
    section("Runs", None, "curves: train (line), train_eval (dashed: a fixed sample of training data), eval (held-out), "
            "eval_samples (held-out sampling metrics)")
    for run in runs:
        page.add(run_section(run, out), newline=False)
    paths_written = page.write(out)
    return paths_written | {"runs": [r["path"] for r in runs]}
