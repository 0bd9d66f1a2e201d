"""`alignlab report SWEEP_DIR`: the comparison report of a sweep, as one self-contained HTML page (plus markdown
and PNGs): results with seed CIs, paired comparisons with the baseline, reward–KL and reward–diversity frontiers
(Pareto front marked, CI error bars), per-epoch train vs held-out curves, loss curves, the optimizer/LoRA memory
table, the setup stages (pair-gap statistics), diagnostics flags and sample generations per method."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alignlab.experiments.statistics import pareto_front  # noqa: E402
from alignlab.report.run_report import STYLE, _img, _table, sample_rows  # noqa: E402
from alignlab.runs.atomic import atomic_write_text  # noqa: E402
from alignlab.runs.metrics import read_metrics  # noqa: E402

FRONTIER_X = {"kl": ("kl_k1", "KL to the reference (sequence k1)", False),
              "entropy": ("pooled_entropy", "diversity: pooled per-prompt token entropy", True)}
"""Frontier name → (metric, axis label, higher is better)."""
RESULT_COLUMNS = [("gold", "gold_reward_mean"), ("proxy", "reward_mean"), ("KL", "kl_k1"),
                  ("entropy", "pooled_entropy"), ("dist-2", "distinct_2"), ("win rate", "win_rate"),
                  ("on target", "on_target_fraction"),
                  ("pair acc.", "pair_accuracy"), ("held-out loss", "eval_loss"), ("perplexity", "perplexity")]
MARKERS = ("o", "s", "^", "D")
EPOCH_METRICS = ("loss", "accuracy", "gold_reward_mean", "reward_mean")
SAMPLE_PROMPTS = 4
PAIR_FILTERS = [("pairs_below_gap", "pairs below the gap"), ("pairs_best_below_min", "below the best-score bar"),
                ("samples_unfinished", "unfinished replies"), ("samples_too_short", "too short replies")]
"""pairs_report.json counters shown with each pairs stage."""


def ci_text(m: dict | None, digits: int = 3) -> str:
    if not m or m["n"] == 0:
        return "-"
    if m["n"] == 1:
        return f"{m['mean']:.{digits}f}"
    return f"{m['mean']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def result_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    cells = summary["cells"]
    shown = [(h, k) for h, k in RESULT_COLUMNS if any(k in c["metrics"] for c in cells.values())]
    rows = [[name, c["verb"], str(len(c["seeds"])), *(ci_text(c["metrics"].get(k)) for _, k in shown)]
            for name, c in cells.items()]
    return ["cell", "verb", "seeds", *(h for h, _ in shown)], rows


def paired_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    paired = summary.get("paired") or {}
    rows = []
    for cell, comps in (paired.get("cells") or {}).items():
        rows.append([cell, comps["baseline"], *(f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] p={c['p_value']:.3g}"
                             if (c := comps.get(name)) else "-" for name in ("gold", "proxy", "kl", "entropy"))])
    return ["cell", "baseline", "Δ gold", "Δ proxy", "Δ KL", "Δ entropy"], rows


def frontier_figure(summary: dict, kind: str, out: Path) -> Path | None:
    """Gold reward (mean over seeds, CI bars) against KL or diversity; the Pareto front joined by a line."""
    metric, label, higher = FRONTIER_X[kind]
    cells = summary["cells"]
    ykey = "gold_reward_mean" if any("gold_reward_mean" in c["metrics"] for c in cells.values()) else "reward_mean"
    pts = [(name, c["metrics"][metric], c["metrics"][ykey]) for name, c in cells.items()
           if metric in c["metrics"] and ykey in c["metrics"]]
    if len(pts) < 2:
        return None
    fig, ax = plt.subplots(figsize=(9.5, 5))
    for i, (name, x, y) in enumerate(pts):
        # a legend, not labels on the points: cells of similar reward and KL would print their names on top of
        # each other; colour × marker keeps 40 cells apart
        ax.errorbar([x["mean"]], [y["mean"]], xerr=[[x["mean"] - x["ci_low"]], [x["ci_high"] - x["mean"]]],
                    yerr=[[y["mean"] - y["ci_low"]], [y["ci_high"] - y["mean"]]], fmt=MARKERS[i // 10 % len(MARKERS)],
                    color=f"C{i % 10}", capsize=3, alpha=0.8, elinewidth=0.8, label=name)
    front = sorted(pareto_front([(x["mean"], y["mean"]) for _, x, y in pts], maximize_x=higher), key=lambda i: pts[i][1]["mean"])
    ax.plot([pts[i][1]["mean"] for i in front], [pts[i][2]["mean"] for i in front], "k--", lw=1, label="Pareto front")
    ax.scatter([pts[i][1]["mean"] for i in front], [pts[i][2]["mean"] for i in front], s=120, facecolors="none",
               edgecolors="k")
    ax.set_xlabel(label)
    ax.set_ylabel("gold reward" if ykey == "gold_reward_mean" else "reward")
    ax.set_title(f"{summary['name']}: reward vs {kind} (mean over seeds, 95% CI)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def cell_runs(root: Path) -> dict[str, list[Path]]:
    """cell → its run folders (one per seed), from state.json."""
    state = json.loads((root / "state.json").read_text())["jobs"] if (root / "state.json").exists() else {}
    out: dict[str, list[Path]] = defaultdict(list)
    for rec in state.values():
        if rec["seed"] is not None and rec["status"] == "completed":
            out[rec["cell"]].append(Path(rec["path"]))
    return out


def epoch_curves(root: Path, out: Path) -> Path | None:
    """Per epoch, the held-out (solid) and training-sample (dashed) value of each metric, mean over seeds, for
    the cells trained over more than one epoch."""
    series: dict[tuple, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for cell, paths in cell_runs(root).items():
        for p in paths:
            if not (p / "metrics.jsonl").exists():
                continue
            for r in read_metrics(p):
                if r["split"] in ("eval", "train_eval") and r.get("epoch") is not None:
                    for m in EPOCH_METRICS:
                        if isinstance(r.get(m), (int, float)):
                            series[(cell, r["split"], m)][round(r["epoch"], 2)].append(r[m])
    multi = {k: v for k, v in series.items() if len(v) > 2}
    shown = [m for m in EPOCH_METRICS if any(k[2] == m for k in multi)]
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 3.6), squeeze=False)
    colors: dict[str, str] = {}
    for ax, metric in zip(axes[0], shown, strict=True):
        for (cell, split, m), pts in multi.items():
            if m != metric:
                continue
            xs = sorted(pts)
            color = colors.setdefault(cell, f"C{len(colors) % 10}")
            ax.plot(xs, [sum(pts[x]) / len(pts[x]) for x in xs], "-o" if split == "eval" else "--", color=color,
                    markersize=3, label=f"{cell} ({'held-out' if split == 'eval' else 'train'})")
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def loss_curves(root: Path, out: Path) -> Path | None:
    """Training loss (thin) and held-out loss (markers) against step, first seed of each cell."""
    runs = {c: ps[0] for c, ps in cell_runs(root).items() if (ps[0] / "metrics.jsonl").exists()}
    curves = {c: read_metrics(p) for c, p in runs.items()}
    curves = {c: rs for c, rs in curves.items() if any(r["split"] == "train" and "loss" in r for r in rs)}
    if not curves:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (cell, rows) in enumerate(curves.items()):
        for ax, split, style in ((a, "train", "-"), (b, "eval", "o-")):
            pts = [(r["step"], r["loss"]) for r in rows if r["split"] == split and isinstance(r.get("loss"), (int, float))]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, color=f"C{i % 10}", label=cell, markersize=3, lw=1)
    for ax, title in ((a, "training loss"), (b, "held-out loss")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    a.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def memory_rows(summary: dict) -> list[list[str]]:
    return [[m["cell"], str(m["optimizer"]), str(m["lora_r"] or "full"), f"{m['trainable_params']:,}",
             str(m["state_buffers"]), f"{m['optimizer_state_bytes']:,}",
             "-" if m["expected_bytes"] is None else f"{m['expected_bytes']:,}", "yes" if m["holds"] else "NO"]
            for m in summary.get("memory", [])]


MEMORY_HEADERS = ["cell", "optimizer", "LoRA r", "trainable params", "state buffers", "optimizer state (bytes)",
                  "trainable × 4 B × buffers", "equal"]


def gap_line(stage: str, split: str, s: dict) -> str:
    """One split of a pairs stage (its pairs_report.json entry): pairs kept, gap statistics, what was filtered."""
    gap = s.get("gaps") or {}
    stats = (f"gap median {gap['median']:.2f} / mean {gap['mean']:.2f} / SD {gap['sd']:.2f}" if gap.get("count")
             else "no gap")
    filtered = ", ".join(f"{s[k]} {label}" for k, label in PAIR_FILTERS if s.get(k))
    return (f"{stage} · {split}: {s.get('pairs', 0)} pairs from {s.get('prompts', 0)} prompts; {stats}; prompts "
            f"dropped {s.get('dropped_prompts', 0)}" + (f"; filtered out: {filtered}" if filtered else ""))


def setup_section(root: Path, out: Path) -> tuple[str, str]:
    """Each setup stage's folder; for pairs stages the gap statistics and the gap histogram."""
    parts_h, parts_md = [], []
    for stage in sorted((root / "setup").iterdir()) if (root / "setup").exists() else []:
        rep = stage / "pairs_report.json"
        line = f"{stage.name}: {stage}"
        parts_h.append(f"<p>{html.escape(line)}</p>")
        parts_md.append(f"- {line}\n")
        if rep.exists():
            r = json.loads(rep.read_text())
            for split, s in r.get("splits", {}).items():
                text = gap_line(stage.name, split, s)
                parts_h.append(f"<p class=dim>{html.escape(text)}</p>")
                parts_md.append(f"  - {text}\n")
            hist = stage / "gap_histogram.png"
            if hist.exists():
                copy = out / f"gaps-{stage.name}.png"
                copy.write_bytes(hist.read_bytes())
                h, md = _img(copy)
                parts_h.append(h)
                parts_md.append(f"\n{md}\n")
    return "".join(parts_h), "".join(parts_md)


def flag_table(root: Path) -> list[list[str]]:
    rows = []
    for paths in cell_runs(root).values():
        for p in paths:
            d = json.loads((p / "diagnostics.json").read_text()) if (p / "diagnostics.json").exists() else None
            rows += [[p.name, f["kind"], f["message"]] for f in (d or {}).get("flags", [])]
    return rows


def generation_rows(root: Path) -> tuple[list[str], list[list[str]]]:
    runs = []
    for cell, paths in cell_runs(root).items():
        s = sorted(paths)[0] / "eval" / "samples.jsonl"
        if s.exists():
            runs.append({"name": cell, "samples": [json.loads(x) for x in s.read_text().splitlines() if x.strip()]})
    headers, rows = sample_rows(runs)
    return headers, rows[:SAMPLE_PROMPTS]


def write_sweep_report(root: Path, summary: dict | None = None, out: Path | None = None) -> dict:
    """Write the report of a sweep folder (summary.json unless given) to out (default root/report)."""
    summary = summary or json.loads((root / "summary.json").read_text())
    out = out or root / "report"
    out.mkdir(parents=True, exist_ok=True)
    title = f"alignlab sweep · {summary['name']}"
    hp, mp = [f"<h1>{html.escape(title)}</h1><p>{html.escape(summary.get('description', ''))}</p>"], [f"# {title}\n\n{summary.get('description', '')}\n"]

    def section(heading: str, body: tuple[str, str] | None, note: str = "") -> None:
        hp.append(f"<h2>{html.escape(heading)}</h2>" + (f"<p class=dim>{html.escape(note)}</p>" if note else ""))
        mp.append(f"\n## {heading}\n\n" + (f"{note}\n\n" if note else ""))
        if body:
            hp.append(body[0])
            mp.append(body[1] + "\n")

    section("Results", _table(*result_table(summary)), "mean over seeds [95% Student-t CI over seeds]; the same "
            "held-out prompts and sampling seeds for every cell")
    if (summary.get("paired") or {}).get("cells"):
        section(f"Paired comparison with {summary['baseline']}", _table(*paired_table(summary)),
                "cell − baseline on shared samples (same prompt, same seed): mean difference, 95% paired bootstrap "
                "CI and two-sided p-value; entropy is paired per prompt")
    for kind in summary.get("frontier", []):
        section(f"Frontier: reward vs {kind}", _img(frontier_figure(summary, kind, out / f"frontier-{kind}.png")),
                "circles and dashed line: the Pareto front of the cell means")
    epochs = epoch_curves(root, out / "epochs.png")
    if epochs:  # only cells trained over more than one epoch have such curves
        section("Per-epoch train vs held-out", _img(epochs),
                "solid: held-out; dashed: a fixed sample of training data; mean over seeds")
    losses = loss_curves(root, out / "loss.png")
    if losses:
        section("Loss curves", _img(losses), "first seed of each cell")
    if summary.get("memory"):
        section("Optimizer and LoRA memory", _table(MEMORY_HEADERS, memory_rows(summary)),
                "optimizer state measured from optimizer.state after training; each state buffer holds one fp32 "
                "value per trainable parameter")
    section("Setup stages", setup_section(root, out))
    flags = flag_table(root)
    section("Diagnostics flags", _table(["run", "flag", "detail"], flags) if flags else None,
            "" if flags else "no over-fitting or reward-hacking flag in any run")
    headers, rows = generation_rows(root)
    section("Sample generations", _table(headers, rows) if rows else None, "first seed of each cell, same prompts")
    failed = summary.get("failed") or []
    if failed:
        section("Failed runs", None, ", ".join(failed) + " (see sweep-error.txt in their folders)")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(hp)}</body></html>")
    atomic_write_text(out / "report.html", page)
    atomic_write_text(out / "report.md", "".join(mp))
    return {"html": str(out / "report.html"), "markdown": str(out / "report.md")}
