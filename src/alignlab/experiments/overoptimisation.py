"""Reward over-optimisation across a sweep's seeds: gold and proxy against √KL along each cell's runs.

A cell's curve is the sequence of its held-out evaluations: along training for an RL run (metrics.jsonl split
`eval`), or over n for best-of-n (split `best_of_n`). Its seeds evaluate at the same steps (the same n), so the
i-th points of the seeds are averaged: mean √KL, and gold and proxy with their seed CIs. Gao et al.'s form is
fitted to the mean gold (RL: d(α − β log d); best-of-n: d(α − βd); `evaluation/overoptimisation.py`).

The over-optimisation test of a curve, seed against seed: the peak is the point of highest mean gold; when it is
not the last point, the gold drop from the peak to the last point and the proxy rise over the same stretch get
Student-t CIs over the seeds' paired differences. "Over-optimised beyond the seed CIs" means both CIs exclude 0:
gold turned down while the proxy still rose. The peak is chosen on the same seeds that test it, so the drop is
an optimistic estimate (a winner's curse); with fewer than 3 seeds there is no CI and no verdict.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

from alignlab.evaluation.overoptimisation import fit
from alignlab.experiments.spec import Job
from alignlab.experiments.statistics import MIN_SEEDS, seed_ci
from alignlab.runs.metrics import read_metrics

CURVE_SPLITS = {"eval": "rl", "best_of_n": "bon"}
"""metrics.jsonl split of a curve's points → the Gao et al. form fitted to it."""
_SEED_SUFFIX = re.compile(r"-s\d+$")


def run_curve(path: Path) -> tuple[str, list[dict]] | None:
    """(form, [{step, sqrt_kl, gold, proxy}]) of one run folder, or None without two points of gold and √KL."""
    if not (path / "metrics.jsonl").exists():
        return None
    rows = read_metrics(path)
    for split, form in CURVE_SPLITS.items():
        pts = [{"step": r["step"], "sqrt_kl": r["sqrt_kl"], "gold": r["gold_reward_mean"], "proxy": r["reward_mean"]}
               for r in rows if r["split"] == split and "sqrt_kl" in r and "gold_reward_mean" in r]
        if len(pts) > 1:
            return form, pts
    return None


def proxy_label(path: Path) -> str:
    """The proxy a run optimised (eval.proxy, else reward.scorer), with a sweep's setup folder named by its stage
    (setup/rm-small-s1 → rm-small), so the seeds of one proxy share one label."""
    cfg = yaml.safe_load((path / "config.yaml").read_text()) if (path / "config.yaml").exists() else {}
    spec = (cfg.get("eval") or {}).get("proxy") or (cfg.get("reward") or {}).get("scorer") or "?"
    kind, _, where = spec.partition(":")
    if "/setup/" in where:
        return f"{kind}:{_SEED_SUFFIX.sub('', where.rsplit('/setup/', 1)[1].rstrip('/').split('/')[0])}"
    return spec


def _paired(a: list[float], b: list[float]) -> dict:
    return seed_ci([x - y for x, y in zip(a, b, strict=True)])


def cell_curve(form: str, per_seed: dict[int, list[dict]]) -> dict:
    """Seed-averaged curve of one cell, its fit and its over-optimisation test."""
    length = min(len(p) for p in per_seed.values())  # a seed cut short contributes its first points only
    seeds = sorted(per_seed)
    points = []
    for i in range(length):
        at = [per_seed[s][i] for s in seeds]
        points.append({"step": at[0]["step"], "sqrt_kl": statistics.fmean(p["sqrt_kl"] for p in at),
                       "gold": seed_ci([p["gold"] for p in at]), "proxy": seed_ci([p["proxy"] for p in at])})
    d, gold = [p["sqrt_kl"] for p in points], [p["gold"]["mean"] for p in points]
    f = fit(form, d, gold) if length >= 3 else None
    peak = max(range(length), key=lambda i: gold[i])
    out = {"form": form, "seeds": seeds, "points": points, "peak_index": peak,
           "fit": None if f is None else {"alpha": f.alpha, "beta": f.beta, "kl_peak": f.kl_peak,
                                          "peak_observed": f.peak_observed, "d_max": f.d_max}}
    if peak < length - 1:
        g = [[per_seed[s][i]["gold"] for s in seeds] for i in (peak, length - 1)]
        p = [[per_seed[s][i]["proxy"] for s in seeds] for i in (peak, length - 1)]
        drop, rise = _paired(g[0], g[1]), _paired(p[1], p[0])
        out |= {"gold_drop": drop, "proxy_rise": rise}
        if len(seeds) >= MIN_SEEDS:
            out["overoptimised"] = drop["ci_low"] > 0 and rise["ci_low"] > 0
    return out


def overoptimisation(root: Path, jobs: list[Job]) -> dict[str, dict]:
    """cell → its seed-averaged curve of gold and proxy against √KL (cells with curves only), with `proxy`."""
    found: dict[str, dict] = defaultdict(dict)
    forms, proxies = {}, {}
    for job in jobs:
        path = root / job.group / job.name
        curve = run_curve(path)
        if curve is None:
            continue
        forms[job.cell], found[job.cell][job.seed] = curve
        proxies[job.cell] = proxy_label(path)
    return {cell: {"proxy": proxies[cell], **cell_curve(forms[cell], per_seed)} for cell, per_seed in found.items()}
