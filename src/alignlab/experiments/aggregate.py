"""From a sweep's run folders to its numbers: results.csv (one row per cell × seed), the mean and seed CI of every
metric per cell, paired comparisons of each cell with the baseline cell, and the optimizer/LoRA memory table."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import yaml

from alignlab.experiments.spec import Job, SweepSpec
from alignlab.experiments.statistics import paired_bootstrap, seed_ci
from alignlab.training.optim import STATE_BUFFERS

EVAL_METRICS = ("gold_reward_mean", "reward_mean", "kl_k1", "kl_k3", "pooled_entropy", "distinct_1", "distinct_2",
                "self_bleu", "repetition_rate", "embedding_diversity", "response_length", "truncated_fraction",
                "identical_fraction", "cut_off_fraction", "on_target_fraction")
RUN_METRICS = ("train_loss", "eval_loss", "eval_accuracy", "eval_margin", "train_eval_loss", "train_eval_accuracy",
               "win_rate", "win_ties", "pair_accuracy", "perplexity", "trainable_params", "optimizer_state_bytes",
               "optimizer_state_buffers", "flags", "train_seconds")
PAIRED = {"gold": "gold", "proxy": "reward", "kl": "kl", "entropy": "prompt_entropy"}
"""Paired comparison name → the per-sample field of samples.jsonl (prompt_entropy: per prompt)."""


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
        rows.append({"cell": job.cell, "seed": job.seed, "verb": job.verb, **{k: v for k, v in job.grid.items()},
                     **run_metrics(path), **eval_metrics(path)})
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def per_cell(rows: list[dict]) -> dict[str, dict]:
    """cell → {metric: seed_ci(...)} over the cell's seeds, cells in first-seen order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["cell"]].append(r)
    out = {}
    for cell, rs in groups.items():
        keys = [k for k in (*EVAL_METRICS, *RUN_METRICS) if any(isinstance(r.get(k), (int, float)) for r in rs)]
        out[cell] = {"verb": rs[0]["verb"], "seeds": sorted(r["seed"] for r in rs),
                     "metrics": {k: seed_ci([r[k] for r in rs if isinstance(r.get(k), (int, float))]) for k in keys}}
    return out


def unit_values(root: Path, job: Job, field: str) -> dict[tuple, float]:
    """(seed, prompt index[, sample index]) → value of one cell run's samples (prompt_entropy: one per prompt)."""
    path = root / job.group / job.name / "eval" / "samples.jsonl"
    if not path.exists():
        return {}
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    index = {p: i for i, p in enumerate(prompts)}
    out: dict[tuple, float] = {}
    seen: defaultdict = defaultdict(int)
    for r in rows:
        if field not in r:
            continue
        i = index[r["prompt"]]
        if field == "prompt_entropy":
            out[(job.seed, i)] = r[field]
        else:
            out[(job.seed, i, seen[i])] = r[field]
            seen[i] += 1
    return out


def baseline_label(jobs: list[Job], baseline: str, grid: dict) -> str | None:
    """The baseline cell at the same grid point (or the baseline without a grid)."""
    labels = {(j.method, tuple(sorted(j.grid.items()))): j.cell for j in jobs}
    return labels.get((baseline, tuple(sorted(grid.items())))) or labels.get((baseline, ()))


def paired_comparisons(spec: SweepSpec, root: Path, jobs: list[Job], resamples: int = 2000) -> dict:
    """Every cell vs the baseline cell, on the samples they share (same prompts, same seeds)."""
    if spec.baseline is None:
        return {}
    by_cell: dict[str, list[Job]] = defaultdict(list)
    for j in jobs:
        by_cell[j.cell].append(j)
    out: dict = {}
    for cell, cjobs in by_cell.items():
        base = baseline_label(jobs, spec.baseline, cjobs[0].grid)
        if base is None or base == cell:
            continue
        for name, field in PAIRED.items():
            theirs = {k: v for j in by_cell[base] for k, v in unit_values(root, j, field).items()}
            mine = {k: v for j in cjobs for k, v in unit_values(root, j, field).items()}
            shared = sorted(set(mine) & set(theirs))
            if len(shared) < 2:
                continue
            res = paired_bootstrap([mine[k] for k in shared], [theirs[k] for k in shared], resamples, seed=0)
            out.setdefault(cell, {"baseline": base})[name] = res
    return {"baseline": spec.baseline, "cells": out}


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


def aggregate(spec: SweepSpec, root: Path, jobs: list[Job]) -> dict:
    """Write results.csv and return the summary (per-cell CIs, paired comparisons, memory table)."""
    rows = result_rows(jobs, root)
    if rows:
        write_csv(rows, root / "results.csv")
    return {"name": spec.name, "description": spec.description, "root": str(root), "baseline": spec.baseline,
            "frontier": spec.frontier, "cells": per_cell(rows), "paired": paired_comparisons(spec, root, jobs),
            "memory": memory_table(rows), "runs": len(rows)}
