"""From a sweep's run folders to its numbers: results.csv (one row per cell × seed), the mean and seed CI of every
metric per cell, seed-level paired comparisons of each cell with the baseline cell, the matched-KL table of the
methods measured as curves, the p-values adjusted over the whole report, and the optimizer/LoRA memory table."""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import yaml

from alignlab.config.sweep import SweepSpec
from alignlab.experiments.overoptimisation import overoptimisation
from alignlab.experiments.spec import Job
from alignlab.experiments.statistics import benjamini_hochberg, compare_seeds, holm, interpolate_at, seed_ci
from alignlab.methods import names
from alignlab.runs.metrics import read_jsonl
from alignlab.training.optim import STATE_BUFFERS

EVAL_METRICS = ("gold_reward_mean", "reward_mean", "kl_k1", "kl_k3", "pooled_entropy", "pooled_entropy_prefix",
                "empty_prompts", "distinct_1", "distinct_2",
                "self_bleu", "repetition_rate", "embedding_diversity", "response_length", "truncated_fraction",
                "identical_fraction", "cut_off_fraction", "on_target_fraction")
RUN_METRICS = ("train_loss", "eval_loss", "eval_accuracy", "eval_margin", "train_eval_loss", "train_eval_accuracy",
               "win_rate", "win_ties", "pair_accuracy", "perplexity", "trainable_params", "optimizer_state_bytes",
               "optimizer_state_buffers", "flags", "train_seconds")
PAIRED = {"gold": "gold", "proxy": "reward", "kl": "kl", "entropy": "prompt_entropy",
          "entropy_prefix": "prompt_entropy_prefix", "length": "tokens"}
"""Paired comparison name → the field of samples.jsonl it reads (per sample, or per prompt: PER_PROMPT)."""
PER_PROMPT = ("prompt_entropy", "prompt_entropy_prefix")
RUN_PAIRED = {"heldout_loss": "eval_loss", "pair_accuracy": "pair_accuracy", "win_rate": "win_rate",
              "perplexity": "perplexity", "on_target": "on_target_fraction", "cut_off": "cut_off_fraction"}
"""Paired comparison name → a run-level metric of results.csv (one value per seed)."""
MATCHED_METRICS = {"gold_reward_mean": "gold", "reward_mean": "proxy", "pooled_entropy": "entropy",
                   "pooled_entropy_prefix": "entropy_prefix", "response_length": "length"}
"""Metrics read off each method's curve at the matched KL levels → their name among the sweep's `tests`."""


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def last(rows: list[dict], split: str, key: str):
    vals = [r[key] for r in rows if r["split"] == split and isinstance(r.get(key), (int, float))]
    return vals[-1] if vals else None


def run_metrics(path: Path) -> dict:
    """Final training / held-out values, memory and flags of one run folder (missing ones are left out)."""
    from alignlab.runs.metrics import read_metrics

    rows = read_metrics(path) if (path / "metrics.jsonl").exists() else []
    out = {"train_loss": last(rows, "train", "loss"), "eval_loss": last(rows, "eval", "loss"),
           "eval_accuracy": last(rows, "eval", "accuracy"), "eval_margin": last(rows, "eval", "margin"),
           "train_eval_loss": last(rows, "train_eval", "loss"),
           "train_eval_accuracy": last(rows, "train_eval", "accuracy")}
    for key in ("trainable_params", "optimizer_state_bytes", "optimizer_state_buffers", "trainable_param_bytes"):
        out[key] = last(rows, "memory", key)
    diag = _json(path / "diagnostics.json")
    out["flags"] = len(diag["flags"]) if diag else None
    manifest = _json(path / "manifest.json") or {}
    out["train_seconds"] = manifest.get("wall_time_s")
    if (path / "config.yaml").exists():
        cfg = yaml.safe_load((path / "config.yaml").read_text())
        out |= {"optimizer": cfg["optimizer"]["name"], "lora_r": cfg["lora"]["r"]}
    return {k: v for k, v in out.items() if v is not None}


def eval_metrics(path: Path) -> dict:
    rec = _json(path / "eval" / "eval.json")
    if rec is None:
        return {}
    out = {k: rec["metrics"][k] for k in EVAL_METRICS if k in rec["metrics"]}
    if rec.get("win_rate"):
        out |= {"win_rate": rec["win_rate"]["win_rate"], "win_ties": rec["win_rate"]["ties"]}
    if rec.get("pairs"):
        out["pair_accuracy"] = rec["pairs"]["pair_accuracy"]
    if rec.get("perplexity"):
        out["perplexity"] = rec["perplexity"]["perplexity"]
    return out


def result_rows(jobs: list[Job], root: Path) -> list[dict]:
    rows = []
    for job in jobs:
        path = root / job.group / job.name
        rows.append({"cell": job.cell, "method": job.method, "seed": job.seed, "verb": job.verb,
                     **{k: v for k, v in job.grid.items()},
                     **run_metrics(path), **eval_metrics(path)})
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def per_cell(rows: list[dict]) -> dict[str, dict]:
    """cell → {verb, method, seeds, metrics: {metric: seed_ci(...)}} over the cell's seeds, in first-seen
    order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["cell"]].append(r)
    out = {}
    for cell, rs in groups.items():
        keys = [k for k in (*EVAL_METRICS, *RUN_METRICS) if any(isinstance(r.get(k), (int, float)) for r in rs)]
        out[cell] = {"verb": rs[0]["verb"], "method": rs[0].get("method", cell),
                     "seeds": sorted(r["seed"] for r in rs),
                     "metrics": {k: seed_ci([r[k] for r in rs if isinstance(r.get(k), (int, float))]) for k in keys}}
    return out


def unit_values(root: Path, job: Job, field: str) -> dict[tuple, float]:
    """(seed, prompt index[, sample index]) → value of one cell run's samples (per-prompt fields: one per prompt)."""
    path = root / job.group / job.name / "eval" / "samples.jsonl"
    if not path.exists():
        return {}
    rows = read_jsonl(path)
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    index = {p: i for i, p in enumerate(prompts)}
    out: dict[tuple, float] = {}
    seen: defaultdict = defaultdict(int)
    for r in rows:
        if field not in r:
            continue
        i = index[r["prompt"]]
        if field in PER_PROMPT:
            out[(job.seed, i)] = r[field]
        else:
            out[(job.seed, i, seen[i])] = r[field]
            seen[i] += 1
    return out


def baseline_label(jobs: list[Job], baseline: str, grid: dict, point: dict | None = None) -> str | None:
    """The baseline cell at the same grid point, else at `point` (the sweep's baseline_point), else the baseline
    without a grid."""
    labels = {(j.method, tuple(sorted(j.grid.items()))): j.cell for j in jobs}
    return (labels.get((baseline, tuple(sorted(grid.items())))) or labels.get((baseline, tuple(sorted((point or {}).items()))))
            or labels.get((baseline, ())))


def seed_pairing(mine: list[int], theirs: list[int]) -> tuple[list[tuple[int, int]], str]:
    """Which seed of a cell goes with which seed of the baseline: the same seeds when both ran them (they share
    the setup, data order and evaluation sampling seed), else by rank (i-th with i-th, e.g. an A/A check)."""
    a, b = sorted(set(mine)), sorted(set(theirs))
    if a == b:
        return [(s, s) for s in a], "same seed"
    return list(zip(a, b, strict=False)), "by rank (the cells ran different seeds)"


def compare_cells(root: Path, mine: list[Job], theirs: list[Job], rows: list[dict], resamples: int) -> dict:
    """One cell against another, seed against seed, on every PAIRED sample field and every RUN_PAIRED run metric
    (one value per seed)."""
    pairs, how = seed_pairing([j.seed for j in mine], [j.seed for j in theirs])
    out: dict = {"baseline": theirs[0].cell, "pairing": how}
    for name, field in PAIRED.items():
        a = {k: v for j in mine for k, v in unit_values(root, j, field).items()}
        b = {k: v for j in theirs for k, v in unit_values(root, j, field).items()}
        if (res := compare_seeds(a, b, resamples, seed=0, seed_pairs=pairs)) is not None:
            out[name] = res
    for name, metric in RUN_PAIRED.items():
        a, b = ({(r["seed"], 0): r[metric] for r in rows if r["cell"] == js[0].cell and isinstance(r.get(metric), (int, float))}
                for js in (mine, theirs))
        if (res := compare_seeds(a, b, resamples, seed=0, seed_pairs=pairs)) is not None:
            out[name] = res
    return out


def paired_comparisons(spec: SweepSpec, root: Path, jobs: list[Job], rows: list[dict], resamples: int = 2000) -> dict:
    """Every cell vs the baseline cell (at the same grid point, else at baseline_point), and each of the sweep's
    `contrasts`, seed against seed (`compare_seeds`)."""
    by_cell: dict[str, list[Job]] = defaultdict(list)
    for j in jobs:
        by_cell[j.cell].append(j)
    out: dict = {}
    for cell, cjobs in by_cell.items() if spec.baseline is not None else ():
        base = baseline_label(jobs, spec.baseline, cjobs[0].grid, spec.baseline_point)
        if base == cell:  # the baseline method at another grid point: against its baseline_point
            base = baseline_label(jobs, spec.baseline, spec.baseline_point)
        if base is not None and base != cell:
            out[cell] = compare_cells(root, cjobs, by_cell[base], rows, resamples)
    contrasts = {f"{a} vs {b}": compare_cells(root, by_cell[a], by_cell[b], rows, resamples)
                 for a, b in spec.contrasts if a in by_cell and b in by_cell}
    if not out and not contrasts:
        return {}
    return {"baseline": spec.baseline, "cells": out, "contrasts": contrasts}


def method_curves(rows: list[dict]) -> dict[str, list[dict]]:
    """method → its rows (every grid point × seed) for methods measured at 2 or more grid points: the methods
    that can be read at a matched KL."""
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("verb") not in names("evaluation") and isinstance(r.get("kl_k1"), (int, float)):
            by_method[r.get("method", r["cell"])].append(r)
    return {m: rs for m, rs in by_method.items() if len({r["cell"] for r in rs}) >= 2}


def kl_range(rs: list[dict]) -> tuple[float, float]:
    """(lowest, highest) mean KL over the grid points of one method's rows."""
    means = [statistics.fmean(r["kl_k1"] for r in rs if r["cell"] == c) for c in {r["cell"] for r in rs}]
    return min(means), max(means)


def auto_kl_levels(curves: dict[str, list[dict]], count: int = 3) -> list[float]:
    """`count` KL levels inside the range of mean KLs that every curve covers (two significant digits)."""
    ranges = [kl_range(rs) for rs in curves.values()]
    if not ranges:
        return []
    lo, hi = max(r[0] for r in ranges), min(r[1] for r in ranges)
    if lo >= hi:
        return []
    return [float(f"{lo + (hi - lo) * (i + 1) / (count + 1):.2g}") for i in range(count)]


def matched_kl(spec: SweepSpec, rows: list[dict], resamples: int = 2000) -> dict:
    """Each method's metrics read off its curve at KL levels, per seed (linear between the seed's grid points, no
    extrapolation), with seed CIs; and each method against the baseline's curve at the same levels, seed against
    seed. Levels: the sweep's `kl_levels` for every method; else, per method, three levels inside the KL range
    that it and the baseline both cover (without a baseline curve: the range every curve covers)."""
    curves = method_curves(rows)
    if not curves:
        return {}
    base = spec.baseline if spec.baseline in curves else None
    if spec.kl_levels is not None:
        levels = {m: list(spec.kl_levels) for m in curves}
    elif base is not None:
        levels = {m: auto_kl_levels({m: curves[m], base: curves[base]}) for m in curves if m != base}
        levels[base] = sorted({lv for m, lvs in levels.items() for lv in lvs})
    else:
        common = auto_kl_levels(curves)
        levels = {m: common for m in curves}
    per_seed: dict[str, dict] = {}  # method → level → metric → {seed: value}
    for method, rs in curves.items():
        for level in levels.get(method, []):
            for metric in MATCHED_METRICS:
                for seed in sorted({r["seed"] for r in rs}):
                    pts = [(r["kl_k1"], r[metric]) for r in rs if r["seed"] == seed and isinstance(r.get(metric), (int, float))]
                    v = interpolate_at([x for x, _ in pts], [y for _, y in pts], level) if len(pts) >= 2 else None
                    if v is not None:
                        per_seed.setdefault(method, {}).setdefault(str(level), {}).setdefault(metric, {})[seed] = v
    methods = {m: {lv: {k: seed_ci(list(vals.values())) for k, vals in ms.items()} for lv, ms in lvs.items()}
               for m, lvs in per_seed.items()}
    comparisons: dict = {}
    ran = {m: sorted({r["seed"] for r in rs}) for m, rs in curves.items()}
    for method, lvs in per_seed.items():
        if base is None or method == base or base not in per_seed:
            continue
        pairs, _ = seed_pairing(ran[method], ran[base])  # a seed whose curve misses a level drops out there
        for lv, ms in lvs.items():
            for metric, vals in ms.items():
                theirs = per_seed[base].get(lv, {}).get(metric, {})
                res = compare_seeds({(s, 0): v for s, v in vals.items()}, {(s, 0): v for s, v in theirs.items()},
                                    resamples, seed=0, seed_pairs=pairs)
                if res is not None:
                    comparisons.setdefault(method, {}).setdefault(lv, {})[metric] = res
    unmatched = sorted(m for m in curves if m != base and not levels.get(m))
    return {"levels": sorted({lv for lvs in levels.values() for lv in lvs}), "levels_by_method": levels,
            "levels_from": "kl_levels" if spec.kl_levels is not None else "auto", "curves": sorted(curves),
            "ranges": {m: kl_range(rs) for m, rs in curves.items()}, "unmatched": unmatched,
            "methods": methods, "baseline": base, "comparisons": comparisons}


def all_comparisons(summary: dict) -> list[dict]:
    """The comparison records (metric → result) of the baseline comparisons and the contrasts."""
    paired = summary.get("paired") or {}
    return [*paired.get("cells", {}).values(), *paired.get("contrasts", {}).values()]


def each_comparison(summary: dict) -> Iterator[tuple[str, dict]]:
    """(metric, comparison) for every comparison in a summary: against the baseline, the contrasts, and the
    matched-KL ones (named by the metric they compare)."""
    for cs in all_comparisons(summary):
        yield from ((name, c) for name, c in cs.items() if isinstance(c, dict))
    for lvs in (summary.get("matched_kl") or {}).get("comparisons", {}).values():
        for ms in lvs.values():
            yield from ((MATCHED_METRICS[k], c) for k, c in ms.items())


DESCRIPTIVE = "descriptive: not among the sweep's `tests`, so no p-value"


def adjust_p_values(summary: dict, method: str, tested: list[str]) -> int:
    """Add `p_adjusted` (Holm or Benjamini–Hochberg) to the comparisons of the metrics in `tested`, over all of
    them at once (the report's family), and remove the p-value of the others (descriptive); returns the family's
    size."""
    comps = list(each_comparison(summary))
    family = [c for name, c in comps if name in tested]
    for name, c in comps:
        if name not in tested and c["p_value"] is not None:
            c.update(p_value=None, p_adjusted=None, reason=DESCRIPTIVE)
    adjusted = (holm if method == "holm" else benjamini_hochberg)([c["p_value"] for c in family])
    for c, p in zip(family, adjusted, strict=True):
        c["p_adjusted"] = p
    return sum(p is not None for p in adjusted)


def strip_inference(summary: dict, reason: str) -> None:
    """Quick scale: keep the point values and the per-seed values, remove every CI and p-value."""
    for cell in summary["cells"].values():
        for m in cell["metrics"].values():
            m["ci_low"] = m["ci_high"] = None
    for lvs in (summary.get("matched_kl") or {}).get("methods", {}).values():
        for ms in lvs.values():
            for m in ms.values():
                m["ci_low"] = m["ci_high"] = None
    for _, c in each_comparison(summary):
        c.update(p_value=None, p_adjusted=None, ci_low=None, ci_high=None, t_low=None, t_high=None, reason=reason)


def memory_table(rows: list[dict]) -> list[dict]:
    """Per cell (first seed): trainable parameters, measured optimizer-state bytes, and the invariant the optimizer
    comparison rests on: state bytes = trainable params × bytes per param (4 in fp32) × the optimizer's state
    buffers (SGD 0, momentum/Nesterov 1, Adam(W) 2)."""
    out, seen = [], set()
    for r in rows:
        if r["cell"] in seen or "optimizer_state_bytes" not in r:
            continue
        seen.add(r["cell"])
        bytes_per = r["trainable_param_bytes"] / max(r["trainable_params"], 1)
        buffers = STATE_BUFFERS.get(r.get("optimizer", ""))
        expected = None if buffers is None else int(r["trainable_params"] * bytes_per * buffers)
        out.append({"cell": r["cell"], "optimizer": r.get("optimizer"), "lora_r": r.get("lora_r"),
                    "trainable_params": r["trainable_params"], "bytes_per_param": bytes_per,
                    "state_buffers": buffers, "optimizer_state_bytes": r["optimizer_state_bytes"],
                    "expected_bytes": expected, "holds": expected == r["optimizer_state_bytes"]})
    return out


QUICK = ("quick scale: a smoke test of the sweep (small data, few seeds); it supports no comparison, so it shows "
         "no CI or p-value")


def aggregate(spec: SweepSpec, root: Path, jobs: list[Job], quick: bool = False) -> dict:
    """Write results.csv and return the summary: per-cell means with seed CIs, paired seed-level comparisons with
    the baseline, the matched-KL table, p-values adjusted over the whole report, the memory table. At the quick
    scale every CI and p-value is removed."""
    rows = result_rows(jobs, root)
    if rows:
        write_csv(rows, root / "results.csv")
    summary = {"name": spec.name, "description": spec.description, "root": str(root), "baseline": spec.baseline,
               "frontier": spec.frontier, "quick": quick, "setup_per_seed": spec.setup_per_seed,
               "correction": spec.correction, "cells": per_cell(rows),
               "paired": paired_comparisons(spec, root, jobs, rows), "matched_kl": matched_kl(spec, rows),
               "memory": memory_table(rows), "overoptimisation": overoptimisation(root, jobs), "runs": len(rows)}
    summary["family_size"] = adjust_p_values(summary, spec.correction, spec.tests)
    summary["tests"] = spec.tests
    if quick:
        strip_inference(summary, QUICK)
        summary["family_size"] = 0
    return summary
