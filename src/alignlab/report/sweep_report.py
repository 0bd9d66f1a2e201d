"""`alignlab report SWEEP_DIR`: the comparison report of a sweep, as one self-contained HTML page (plus markdown
and PNGs): results with seed CIs (per-seed values below 3 seeds), seed-level paired comparisons with the
baseline (raw and adjusted p-values), the matched-KL table and curves, reward–KL and reward–diversity frontiers
(CI-aware Pareto front), per-epoch train vs held-out curves, loss curves, the optimizer/LoRA memory table, the
setup stages (pair-gap statistics), diagnostics flags and sample generations per method. A quick-scale report
says at its top that it is a smoke test and shows no CI or p-value."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alignlab.experiments.statistics import FEW_SEEDS, ci_front, pareto_front  # noqa: E402
from alignlab.report import overoptimisation as over  # noqa: E402
from alignlab.report.page import Page, image, save_figure, table  # noqa: E402
from alignlab.report.run_report import sample_rows  # noqa: E402
from alignlab.runs.metrics import (
    read_jsonl,
    read_metrics,  # noqa: E402
)

FRONTIER_X = {"kl": ("kl_k1", "KL to the reference (sequence k1)", False),
              "entropy": ("pooled_entropy", "diversity: pooled per-prompt token entropy", True)}
"""Frontier name → (metric, axis label, higher is better)."""
RESULT_COLUMNS = [("gold", "gold_reward_mean"), ("proxy", "reward_mean"), ("KL", "kl_k1"),
                  ("entropy", "pooled_entropy"), ("entropy, 16-token prefix", "pooled_entropy_prefix"),
                  ("length (tokens)", "response_length"), ("dist-2", "distinct_2"), ("win rate", "win_rate"),
                  ("on target", "on_target_fraction"),
                  ("pair acc.", "pair_accuracy"), ("held-out loss", "eval_loss"), ("perplexity", "perplexity")]
MARKERS = ("o", "s", "^", "D")
EPOCH_METRICS = ("loss", "accuracy", "gold_reward_mean", "reward_mean")
SAMPLE_PROMPTS = 4
PAIR_FILTERS = [("pairs_below_gap", "pairs below the gap"), ("pairs_best_below_min", "below the best-score bar"),
                ("samples_unfinished", "unfinished replies"), ("samples_too_short", "too short replies")]
"""pairs_report.json counters shown with each pairs stage."""


PAIRED_NAMES = {"gold": "gold", "proxy": "proxy", "kl": "KL", "entropy": "entropy",
                "entropy_prefix": "entropy, 16-token prefix", "length": "length (tokens)",
                "heldout_loss": "held-out loss", "pair_accuracy": "pair accuracy", "win_rate": "win rate",
                "perplexity": "perplexity", "on_target": "on target", "cut_off": "cut off"}
MATCHED_NAMES = {"gold_reward_mean": "gold", "reward_mean": "proxy", "pooled_entropy": "entropy",
                 "pooled_entropy_prefix": "entropy, 16-token prefix", "response_length": "length (tokens)"}


def ci_text(m: dict | None, digits: int = 3) -> str:
    """mean [CI] with a CI; below 3 seeds (or at the quick scale) the mean and the per-seed values."""
    if not m or m["n"] == 0:
        return "-"
    if m.get("ci_low") is None:
        vals = m.get("values") or []
        return f"{m['mean']:.{digits}f}" + (f" (seeds: {', '.join(f'{v:.{digits}f}' for v in vals)})" if len(vals) > 1 else "")
    return f"{m['mean']:.{digits}f} [{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"


def result_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    cells = summary["cells"]
    shown = [(h, k) for h, k in RESULT_COLUMNS if any(k in c["metrics"] for c in cells.values())]
    rows = [[name, c["verb"], str(len(c["seeds"])), *(ci_text(c["metrics"].get(k)) for _, k in shown)]
            for name, c in cells.items()]
    return ["cell", "verb", "seeds", *(h for h, _ in shown)], rows


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v:.2g}" if v >= 0.001 else "<0.001"


def comparison_cells(c: dict) -> list[str]:
    """Δ, its CI, the t-test p, the adjusted p and the seeds of one comparison (per-seed Δ below 3 seeds)."""
    if c.get("ci_low") is None:  # below 3 seeds, or the quick scale: the reason is in the table's note
        per_seed = ", ".join(f"{d:+.3f}" for d in c["per_seed"])
        return [f"{c['diff']:+.3f}", f"per seed: {per_seed}", "-", "-", str(c["n_seeds"])]
    if c.get("p_value") is None:  # descriptive metric
        return [f"{c['diff']:+.3f}", f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]", "descriptive", "-",
                str(c["n_seeds"])]
    return [f"{c['diff']:+.3f}", f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]", _p(c["p_value"]),
            _p(c.get("p_adjusted")), str(c["n_seeds"])]


COMPARISON_HEADERS = ["Δ (cell − baseline)", "95% CI (hierarchical bootstrap)", "p (t over seeds)", "p adjusted",
                      "seeds"]


def paired_table(summary: dict, tested_only: bool = False) -> tuple[list[str], list[list[str]]]:
    """One row per (cell, metric); `tested_only`: only the metrics declared as the sweep's tests."""
    rows = []
    names = {k: v for k, v in PAIRED_NAMES.items() if not tested_only or k in summary.get("tests", PAIRED_NAMES)}
    paired = summary.get("paired") or {}
    for key, comps in [*(paired.get("cells") or {}).items(), *(paired.get("contrasts") or {}).items()]:
        cell = key.split(" vs ")[0]
        for name, label in names.items():
            if (c := comps.get(name)) is not None:
                rows.append([cell, comps["baseline"], label, *comparison_cells(c)])
    return ["cell", "baseline", "metric", *COMPARISON_HEADERS], rows


def matched_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """One row per (method, KL level): each metric read off the method's curve, mean [seed CI]."""
    mk = summary.get("matched_kl") or {}
    rows = []
    for method, lvs in (mk.get("methods") or {}).items():
        for lv, ms in lvs.items():
            rows.append([method, lv, *(ci_text(ms.get(k)) for k in MATCHED_NAMES)])
    return ["method", "KL", *MATCHED_NAMES.values()], rows


def matched_comparison_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    mk = summary.get("matched_kl") or {}
    rows = []
    for method, lvs in (mk.get("comparisons") or {}).items():
        for lv, ms in lvs.items():
            for k, label in MATCHED_NAMES.items():
                if (c := ms.get(k)) is not None:
                    rows.append([method, lv, label, *comparison_cells(c)])
    return ["method", "KL", "metric", *COMPARISON_HEADERS], rows


def _bars(m: dict) -> list[list[float]]:
    lo, hi = m.get("ci_low"), m.get("ci_high")
    return [[0.0], [0.0]] if lo is None else [[m["mean"] - lo], [hi - m["mean"]]]


def frontier_figure(summary: dict, kind: str, out: Path) -> Path | None:
    """Gold reward (mean over seeds, CI bars) against KL or diversity. The Pareto front of the means is joined by
    a line; with seed CIs, the points that no other point beats beyond both CIs are circled too (dotted):
    indistinguishable from the front at this number of seeds."""
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
        ax.errorbar([x["mean"]], [y["mean"]], xerr=_bars(x), yerr=_bars(y), fmt=MARKERS[i // 10 % len(MARKERS)],
                    color=f"C{i % 10}", capsize=3, alpha=0.8, elinewidth=0.8, label=name)
    mean_front = set(pareto_front([(x["mean"], y["mean"]) for _, x, y in pts], maximize_x=higher))
    with_ci = all(x.get("ci_low") is not None and y.get("ci_low") is not None for _, x, y in pts)
    wide = set(ci_front([((x["ci_low"], x["ci_high"]), (y["ci_low"], y["ci_high"])) for _, x, y in pts],
                        maximize_x=higher)) if with_ci else mean_front
    front = sorted(mean_front, key=lambda i: pts[i][1]["mean"])
    ax.plot([pts[i][1]["mean"] for i in front], [pts[i][2]["mean"] for i in front], "k--", lw=1,
            label="Pareto front of the means")
    ax.scatter([pts[i][1]["mean"] for i in front], [pts[i][2]["mean"] for i in front], s=120, facecolors="none",
               edgecolors="k")
    tied = sorted(wide - mean_front)
    if tied:
        ax.scatter([pts[i][1]["mean"] for i in tied], [pts[i][2]["mean"] for i in tied], s=160, facecolors="none",
                   edgecolors="0.45", linestyles="dotted", label="indistinguishable from the front (CIs overlap)")
    ax.set_xlabel(label)
    ax.set_ylabel("gold reward" if ykey == "gold_reward_mean" else "reward")
    ax.set_title(f"{summary['name']}: reward vs {kind} (mean over seeds"
                 + (", 95% seed CI)" if with_ci else "; no CI: fewer than 3 seeds or quick scale)"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return save_figure(fig, out)


def matched_figure(summary: dict, out: Path) -> Path | None:
    """Per method measured as a curve: gold reward and pooled entropy against KL (mean over seeds at each grid
    point, seed-CI bars), the matched KL levels as vertical lines; single-point cells as markers."""
    mk = summary.get("matched_kl") or {}
    if not mk.get("curves"):
        return None
    cells = summary["cells"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric, label in ((axes[0], "gold_reward_mean", "gold reward"), (axes[1], "pooled_entropy", "pooled entropy")):
        for i, method in enumerate(mk["curves"]):
            pts = sorted(((c["metrics"]["kl_k1"], c["metrics"][metric]) for c in cells.values()
                          if c.get("method") == method and "kl_k1" in c["metrics"] and metric in c["metrics"]),
                         key=lambda p: p[0]["mean"])
            ax.errorbar([x["mean"] for x, _ in pts], [y["mean"] for _, y in pts],
                        xerr=[sum(v, []) for v in zip(*(_bars(x) for x, _ in pts), strict=True)],
                        yerr=[sum(v, []) for v in zip(*(_bars(y) for _, y in pts), strict=True)],
                        fmt="-o", color=f"C{i % 10}", capsize=2, markersize=4, lw=1, label=method)
        singles = [(n, c) for n, c in cells.items() if c.get("method") not in mk["curves"]
                   and "kl_k1" in c["metrics"] and metric in c["metrics"]]
        for j, (name, c) in enumerate(singles):
            ax.plot([c["metrics"]["kl_k1"]["mean"]], [c["metrics"][metric]["mean"]], MARKERS[1 + j // 10 % 3],
                    color=f"C{(len(mk['curves']) + j) % 10}", alpha=0.6, label=f"{name} (one point)")
        for lv in mk.get("levels", []):
            ax.axvline(lv, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("KL to the reference (sequence k1)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.suptitle(f"{summary['name']}: methods as curves of KL (dotted: the matched KL levels)", fontsize=10)
    return save_figure(fig, out)


def cell_runs(root: Path) -> dict[str, list[Path]]:
    """cell → its run folders (one per seed), from state.json."""
    state = json.loads((root / "state.json").read_text())["jobs"] if (root / "state.json").exists() else {}
    out: dict[str, list[Path]] = defaultdict(list)
    for rec in state.values():
        group = rec.get("group", "setup" if rec["seed"] is None else "cells")  # state.json before setup_per_seed
        if group == "cells" and rec["status"] == "completed":
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
    return save_figure(fig, out)


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
    return save_figure(fig, out)


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
                h, md = image(copy)
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
            runs.append({"name": cell, "samples": read_jsonl(s)})
    headers, rows = sample_rows(runs)
    return headers, rows[:SAMPLE_PROMPTS]


def inference_note(summary: dict) -> str:
    """Why a table shows per-seed values and no CI or p-value, when it does."""
    if summary.get("quick"):
        return "quick scale: a smoke test; per-seed values only, no CI or p-value"
    seeds = min((len(c["seeds"]) for c in summary["cells"].values()), default=0)
    return FEW_SEEDS if seeds < 3 else ""


def _adjust_note(summary: dict) -> str:
    method = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[summary.get("correction", "holm")]
    n = summary.get("family_size", 0)
    tested = ", ".join(summary.get("tests", []))
    return (f"p adjusted: {method}, over all {n} p-values of this report (the metrics declared as tests: "
            f"{tested}; the others are descriptive)" if n else "no p-value (fewer than 3 seeds, or the quick scale)")


def post_hoc_note(changes: list[dict]) -> str:
    """The warning for analysis settings changed after the sweep's runs had started."""
    def change(c: dict) -> str:
        return ", ".join(f"{k} {json.dumps(c['before'][k])} → {json.dumps(c['after'][k])}" for k in c["fields"])

    parts = [f"{c['time']}: {change(c)}" for c in changes]
    return ("Post hoc: analysis settings were changed on this folder after its runs (" + "; ".join(parts) + "). "
            "Comparisons, tests and corrections they added were not declared before the runs were seen: read "
            "their p-values as exploratory.")


Section = tuple[str, tuple[str, str] | None, str]
"""A report section: heading, (html, markdown) body or None, note."""


def paired_sections(summary: dict) -> list[Section]:
    """The paired comparisons with the baseline and the sweep's contrasts (none when the sweep has neither)."""
    paired = {"cells": {}, "contrasts": {}} | (summary.get("paired") or {})  # older summaries have no contrasts
    if not paired["cells"] and not paired["contrasts"]:
        return []
    pairing = {c.get("pairing") for c in [*paired["cells"].values(), *paired["contrasts"].values()]}
    title = f"Paired comparison with {summary['baseline']}" if summary.get("baseline") else "Paired comparisons"
    title += " and the sweep's contrasts" if paired["contrasts"] and summary.get("baseline") else ""
    note = ("cell − baseline, seed against seed (" + "; ".join(sorted(p for p in pairing if p)) + "): per seed "
            "the mean difference over shared prompts; p from a t-test of the per-seed differences (n − 1 df), "
            "CI from a hierarchical bootstrap (seeds, then prompts within a seed), which can be narrower than "
            "the t interval with 3–5 seeds; " + _adjust_note(summary)
            + (f". {inference_note(summary)}" if inference_note(summary) else ""))
    return [(title, table(*paired_table(summary)), note)]


def matched_kl_sections(summary: dict, out: Path) -> list[Section]:
    """Methods at matched KL: the table, the comparisons with the baseline and the curves; or why there are none."""
    mk = summary.get("matched_kl") or {}
    if mk.get("methods"):
        unmatched = "; ".join(f"{m} (KL {mk['ranges'][m][0]:.2f}–{mk['ranges'][m][1]:.2f})" for m in mk.get("unmatched", []))
        note = ("each method measured at several strengths is a curve; its metrics are read off each seed's curve "
                "at KL levels " + ("set in the sweep file" if mk["levels_from"] == "kl_levels" else
                                   f"inside the KL range that it and {mk['baseline'] or 'every other curve'} both cover")
                + " (linear between grid points, never extrapolated), then averaged over seeds [seed CI]"
                + (f". No KL range shared with {mk['baseline']} "
                   f"(KL {mk['ranges'][mk['baseline']][0]:.2f}–{mk['ranges'][mk['baseline']][1]:.2f}): {unmatched}"
                   if unmatched and mk.get("baseline") else ""))
        sections = [("Matched KL", table(*matched_table(summary)), note)]
        if mk.get("comparisons"):
            sections.append((f"Matched KL: each method against {mk['baseline']}", table(*matched_comparison_table(summary)),
                             "at the same KL, seed against seed; p from a t-test over seeds; " + _adjust_note(summary)))
        return [*sections, ("Curves against KL", image(matched_figure(summary, out / "matched-kl.png")), "")]
    if mk.get("curves"):
        return [("Matched KL", None, "the curves share no KL range: " + "; ".join(
            f"{m} KL {lo:.2f}–{hi:.2f}" for m, (lo, hi) in mk["ranges"].items()) + "; add strengths to make them overlap")]
    if summary.get("frontier"):
        return [("Matched KL", None, "no method was measured at two or more strengths (a grid over beta or another "
                 "knob), so methods are compared at their own KLs, not at a matched KL")]
    return []


def write_sweep_report(root: Path, summary: dict | None = None, out: Path | None = None) -> dict:
    """Write the report of a sweep folder (summary.json unless given) to out (default root/report)."""
    summary = summary or json.loads((root / "summary.json").read_text())
    if "family_size" not in summary:
        from alignlab.config import ConfigError

        raise ConfigError(f"{root}/summary.json was written by an older alignlab (replies as independent units, "
                          "no seed-level comparison); run the sweep's command again to re-aggregate it: finished "
                          "runs are skipped")
    out = out or root / "report"
    out.mkdir(parents=True, exist_ok=True)
    page = Page(f"alignlab sweep · {summary['name']}", summary.get("description", ""))
    section = page.section

    if summary.get("quick"):
        page.warn("Small data and few seeds check that every cell runs; no CI or p-value is shown, and no comparison "
                  "should be read from these numbers.", bold="Quick scale: a smoke test, not a study.")
    if summary.get("analysis_changed"):
        page.warn(post_hoc_note(summary["analysis_changed"]))
    seeds = sorted({len(c["seeds"]) for c in summary["cells"].values()})
    section("Results", table(*result_table(summary)), "mean over seeds [95% Student-t CI over seeds; the training "
            "seed is the unit]; " + (f"{FEW_SEEDS} (cells with {seeds[0]} seed(s)); " if seeds and seeds[0] < 3 else "")
            + "the same held-out prompts and sampling seeds for every cell; reply length and a 16-token-prefix "
            "entropy stand beside the pooled entropy, which grows with reply length by itself")
    for heading, body, note in [*paired_sections(summary), *matched_kl_sections(summary, out)]:
        section(heading, body, note)
    for kind in summary.get("frontier", []):
        section(f"Frontier: reward vs {kind}", image(frontier_figure(summary, kind, out / f"frontier-{kind}.png")),
                "circles and dashed line: the Pareto front of the cell means; dotted circles: cells that no other "
                "cell beats beyond both seed CIs, so indistinguishable from the front")
    curves = summary.get("overoptimisation") or {}
    if curves:  # cells evaluated along their runs (RL) or over n (best-of-n)
        section("Reward over-optimisation: gold and proxy against √KL",
                image(over.figure(curves, out / "overoptimisation.png")), over.NOTE)
        fits = table(over.HEADERS, over.rows(curves))
        page.add((fits[0], "\n" + fits[1]))  # a blank line after the figure: markdown starts the table
    epochs = epoch_curves(root, out / "epochs.png")
    if epochs:  # only cells trained over more than one epoch have such curves
        section("Per-epoch train vs held-out", image(epochs),
                "solid: held-out; dashed: a fixed sample of training data; mean over seeds")
    losses = loss_curves(root, out / "loss.png")
    if losses:
        section("Loss curves", image(losses), "first seed of each cell")
    if summary.get("memory"):
        section("Optimizer and LoRA memory", table(MEMORY_HEADERS, memory_rows(summary)),
                "optimizer state measured from optimizer.state after training; each state buffer holds one fp32 "
                "value per trainable parameter; trainable: every parameter the optimizer steps (PPO: the policy "
                "and its critic)")
    section("Setup stages", setup_section(root, out))
    flags = flag_table(root)
    section("Diagnostics flags", table(["run", "flag", "detail"], flags) if flags else None,
            "" if flags else "no over-fitting or reward-hacking flag in any run")
    headers, rows = generation_rows(root)
    section("Sample generations", table(headers, rows) if rows else None, "first seed of each cell, same prompts")
    failed = summary.get("failed") or []
    if failed:
        section("Failed runs", None, ", ".join(failed) + " (see sweep-error.txt in their folders)")
    return page.write(out)
