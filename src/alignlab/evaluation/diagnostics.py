"""Run diagnostics read off `metrics.jsonl`: over-fitting per epoch and reward hacking.

- Over-fitting (study E): at each epoch end, a training metric (measured on a fixed sample of training examples,
  split `train_eval`) improved while the same metric on held-out data (split `eval`) got worse by more than a
  stated tolerance (`eval.overfit_tolerance`). A held-out metric that merely stalls is not flagged: a change
  smaller than the tolerance is within the noise of a held-out set of ~100 pairs.
- Reward hacking: between two evaluations the proxy reward rose while the gold reward fell, or the replies'
  diversity dropped below a fraction of where the run started.
Flags are plain dicts (kind, step, epoch, metric, message), stored in `diagnostics.json` and printed at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MONITORED = {"loss": "min", "accuracy": "max", "margin": "max"}
"""Metrics checked for over-fitting and the direction in which each improves."""
DIVERSITY_KEYS = ("pooled_entropy", "distinct_2", "entropy")
"""Which logged metric stands for diversity, in order of preference."""


@dataclass(frozen=True)
class Thresholds:
    overfit: float = 0.01
    """Smallest held-out worsening (and train improvement) that counts: absolute for accuracy/margin, relative
    (fraction of the value) for loss."""
    hacking: float = 0.02
    """Smallest proxy rise and gold fall (absolute) that count as reward hacking."""
    diversity_floor: float = 0.5
    """Flag when diversity falls below this fraction of its value at the first evaluation."""


def _gain(metric: str, before: float, after: float, tol: float) -> tuple[float, float]:
    """(improvement, the tolerance it is compared with) in the metric's own direction."""
    if MONITORED[metric] == "min":
        return before - after, tol * abs(before)
    return after - before, tol


def epoch_points(rows: Sequence[dict], split: str) -> list[dict]:
    """The last `split` evaluation of each epoch (the start, epoch 0, included), ordered by epoch."""
    by_epoch: dict[int, dict] = {}
    for r in rows:
        if r.get("split") != split or r.get("epoch") is None:
            continue
        e = int(round(r["epoch"])) if abs(r["epoch"] - round(r["epoch"])) < 1e-3 else None
        if e is not None:
            by_epoch[e] = r
    return [by_epoch[e] for e in sorted(by_epoch)]


def overfitting_flags(rows: Sequence[dict], th: Thresholds = Thresholds()) -> list[dict]:
    """One flag per (epoch, metric) where the train metric improved and the held-out one worsened, each by more
    than the tolerance."""
    train = {round(r["epoch"]): r for r in epoch_points(rows, "train_eval")}
    held = {round(r["epoch"]): r for r in epoch_points(rows, "eval")}
    epochs = sorted(set(train) & set(held))
    flags = []
    for prev, cur in zip(epochs, epochs[1:], strict=False):
        for metric in MONITORED:
            t0, t1, h0, h1 = (d[e].get(metric) for d in (train, held) for e in (prev, cur))
            if any(not isinstance(v, (int, float)) for v in (t0, t1, h0, h1)):
                continue
            t_gain, t_tol = _gain(metric, t0, t1, th.overfit)
            h_gain, h_tol = _gain(metric, h0, h1, th.overfit)
            if t_gain > t_tol and h_gain < -h_tol:
                flags.append({"kind": "overfitting", "epoch": cur, "step": held[cur]["step"], "metric": metric,
                              "train": [t0, t1], "heldout": [h0, h1],
                              "message": f"epoch {prev}→{cur}: train {metric} {t0:.4g}→{t1:.4g} improved while "
                                         f"held-out {metric} worsened ({h0:.4g}→{h1:.4g}, beyond the tolerance {h_tol:.3g})"})
    return flags


def diversity_key(row: dict) -> str | None:
    return next((k for k in DIVERSITY_KEYS if isinstance(row.get(k), (int, float))), None)


def reward_hacking_flags(rows: Sequence[dict], th: Thresholds = Thresholds()) -> list[dict]:
    """Flags over consecutive held-out evaluations (splits `eval` of online runs, `eval_samples` of offline ones)."""
    evals = [r for r in rows if r.get("split") in ("eval", "eval_samples") and "reward_mean" in r]
    flags = []
    for prev, cur in zip(evals, evals[1:], strict=False):
        if "gold_reward_mean" not in cur or "gold_reward_mean" not in prev:
            continue
        up = cur["reward_mean"] - prev["reward_mean"]
        down = prev["gold_reward_mean"] - cur["gold_reward_mean"]
        if up > th.hacking and down > th.hacking:
            flags.append({"kind": "reward_hacking", "step": cur["step"], "epoch": cur.get("epoch"),
                          "metric": "reward_mean", "message": f"step {prev['step']}→{cur['step']}: proxy reward "
                          f"{prev['reward_mean']:+.3f}→{cur['reward_mean']:+.3f} rose while gold reward "
                          f"{prev['gold_reward_mean']:+.3f}→{cur['gold_reward_mean']:+.3f} fell"})
    key = diversity_key(evals[0]) if evals else None
    if key is not None and evals[0][key] > 0:
        start = evals[0][key]
        low = next((r for r in evals[1:] if isinstance(r.get(key), (int, float)) and r[key] < th.diversity_floor * start),
                   None)
        if low is not None:
            flags.append({"kind": "diversity_drop", "step": low["step"], "epoch": low.get("epoch"), "metric": key,
                          "message": f"step {low['step']}: {key} {low[key]:.3f} fell below {th.diversity_floor:.0%} "
                                     f"of its starting {start:.3f}"})
    return flags


def diagnose(rows: Sequence[dict], th: Thresholds = Thresholds()) -> dict:
    """Every flag of a run's metric rows, with counts per kind."""
    flags = overfitting_flags(rows, th) + reward_hacking_flags(rows, th)
    kinds = ("overfitting", "reward_hacking", "diversity_drop")
    return {"flags": flags, "counts": {k: sum(f["kind"] == k for f in flags) for k in kinds},
            "thresholds": th.__dict__}
