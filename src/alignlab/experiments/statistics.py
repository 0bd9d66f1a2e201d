"""Statistics across the runs of a sweep, with the **training seed as the unit of replication**.

A second training seed of a method is a new model: the spread between seeds is the noise a comparison of two
methods must beat. Prompts and replies within one run are a second, smaller layer of noise. So:

- `seed_ci`: the mean of a metric over seeds with a Student-t CI (n ≥ 3 seeds; with fewer, the per-seed values
  and no CI).
- `compare_seeds`: two cells on per-(seed, prompt) values. Seeds are paired (seed s of A with seed s of B: they
  share the setup, the data order and the evaluation's prompts and sampling seed); per seed, the prompt-level
  differences are averaged into one seed difference D_s. The p-value is a one-sample t-test of the D_s (n − 1
  degrees of freedom); the CI is a hierarchical bootstrap (resample seeds, then prompts within each seed).
  Fewer than 3 seed pairs: the per-seed differences only, no p-value and no CI, and the reason.
- `holm` and `benjamini_hochberg`: the adjusted p-values of a family of comparisons (the report uses Holm).
- `pareto_front` (means) and `ci_front` (a point leaves the front only when another beats it beyond both CIs).
- `interpolate_at`: a method's metric at a given KL, read off its curve (linear between measured points).

Pure functions on lists and dicts of floats; each is tested against values worked out by hand, and the false-
positive rate and power of `compare_seeds` are checked by simulation (tests/unit/test_sweep_statistics.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

MIN_SEEDS = 3
"""Fewest seeds (seed pairs) for which a CI or a p-value is reported."""
FEW_SEEDS = f"fewer than {MIN_SEEDS} seeds: per-seed values only, no CI or p-value"


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """mean ± t_{n-1} · s / √n (n ≥ 2)."""
    n, mean = len(values), statistics.fmean(values)
    half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return mean - half, mean + half


def seed_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean of one metric over seeds, the per-seed values, and (n ≥ MIN_SEEDS) the Student-t CI
    mean ± t_{n-1} · s / √n. With fewer seeds ci_low / ci_high are None."""
    vals = _clean(values)
    n = len(vals)
    if n == 0:
        return {"mean": math.nan, "ci_low": None, "ci_high": None, "n": 0, "sd": None, "values": []}
    mean = statistics.fmean(vals)
    sd = statistics.stdev(vals) if n > 1 else None
    lo, hi = t_interval(vals, level) if n >= MIN_SEEDS else (None, None)
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n, "sd": sd, "values": vals}


def _percentiles(sorted_stats: np.ndarray, level: float) -> tuple[float, float]:
    return (float(np.quantile(sorted_stats, (1 - level) / 2)), float(np.quantile(sorted_stats, (1 + level) / 2)))


def compare_seeds(mine: dict[tuple, float], theirs: dict[tuple, float], resamples: int = 2000, seed: int = 0,
                  level: float = 0.95, seed_pairs: Sequence[tuple[int, int]] | None = None) -> dict | None:
    """Cell A (`mine`) minus cell B (`theirs`), from values keyed (seed, prompt[, reply]).

    - Replies are averaged per (seed, prompt) first; prompts are paired within a seed pair (the same prompt).
    - `seed_pairs`: which seed of A goes with which seed of B; default: the seeds both have.
    - Per seed pair j: D_j = the mean over shared prompts of A − B.
    - Returned: diff = mean of D_j; per_seed = the D_j; n_seeds; and with n ≥ MIN_SEEDS the two-sided p-value of
      a one-sample t-test of the D_j against 0, its t interval (t_low/t_high), and the hierarchical bootstrap CI
      (ci_low/ci_high): resample seed pairs with replacement, then prompts with replacement within each, and take
      the percentile interval of the resampled mean. With fewer seed pairs: p_value and the CIs are None and
      `reason` says why. None when no seed pair shares a prompt.
    """
    a, b = _per_prompt(mine), _per_prompt(theirs)
    pairs = list(seed_pairs) if seed_pairs is not None else sorted(set(a) & set(b))
    diffs: list[np.ndarray] = []
    used = []
    for sa, sb in ((p, p) if not isinstance(p, tuple) else p for p in pairs):
        shared = sorted(set(a.get(sa, {})) & set(b.get(sb, {})))
        if shared:
            diffs.append(np.array([a[sa][q] - b[sb][q] for q in shared]))
            used.append((sa, sb))
    if not diffs:
        return None
    per_seed = [float(d.mean()) for d in diffs]
    n = len(per_seed)
    out = {"diff": statistics.fmean(per_seed), "per_seed": per_seed, "seed_pairs": used, "n_seeds": n,
           "n_prompts": int(min(len(d) for d in diffs)), "p_value": None, "t_low": None, "t_high": None,
           "ci_low": None, "ci_high": None, "reason": None}
    if n < MIN_SEEDS:
        return out | {"reason": FEW_SEEDS}
    if statistics.pstdev(per_seed) <= 1e-12 * max(1.0, abs(statistics.fmean(per_seed))):
        p = 1.0 if abs(per_seed[0]) <= 1e-12 else 0.0  # every seed differs by the same amount (up to rounding)
        t_low = t_high = per_seed[0]
    else:
        p = float(scipy_stats.ttest_1samp(per_seed, 0.0).pvalue)
        t_low, t_high = t_interval(per_seed, level)
    lo, hi = hierarchical_bootstrap(diffs, resamples, seed, level)
    return out | {"p_value": p, "t_low": t_low, "t_high": t_high, "ci_low": lo, "ci_high": hi}


def _per_prompt(values: dict[tuple, float]) -> dict[int, dict]:
    """{seed: {prompt: mean over that prompt's replies}}."""
    acc: dict[int, dict] = {}
    for key, v in values.items():
        acc.setdefault(key[0], {}).setdefault(key[1], []).append(float(v))
    return {s: {q: statistics.fmean(vs) for q, vs in qs.items()} for s, qs in acc.items()}


def hierarchical_bootstrap(groups: Sequence[np.ndarray], resamples: int, seed: int = 0,
                           level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of group means: resample groups (seeds) with replacement, then units (prompts)
    with replacement inside each drawn group."""
    rng = np.random.default_rng(seed)
    n = len(groups)
    if len({len(g) for g in groups}) == 1:  # balanced (the usual case: every seed saw the same prompts)
        m = np.stack(groups)  # [n, P]
        picked = rng.integers(0, n, (resamples, n))  # [R, n] seeds drawn
        units = rng.integers(0, m.shape[1], (resamples, n, m.shape[1]))  # [R, n, P] prompts drawn in each
        stats = m[picked[..., None], units].mean(axis=(1, 2))  # [R]
    else:
        stats = np.empty(resamples)
        for r in range(resamples):
            picked = rng.integers(0, n, n)
            stats[r] = np.mean([groups[g][rng.integers(0, len(groups[g]), len(groups[g]))].mean() for g in picked])
    return _percentiles(np.sort(stats), level)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (controls the family-wise error rate): sort the m p-values, p_(i) becomes
    max over j ≤ i of min(1, (m − j + 1) · p_(j)). None entries (no test) are kept and not counted in m."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])
    m, out, running = len(order), list(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (controls the false discovery rate): p_(i) · m / i, made monotone
    from the largest down. None entries are kept and not counted."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: p_values[i])
    m, out, running = len(order), list(p_values), 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, p_values[i] * m / (rank + 1))
        out[i] = running
    return out


def pareto_front(points: Sequence[tuple[float, float]], maximize_x: bool, maximize_y: bool = True) -> list[int]:
    """Indices of the points no other point dominates (at least as good on both axes, better on one)."""
    sx, sy = (1 if maximize_x else -1), (1 if maximize_y else -1)
    keyed = [(sx * x, sy * y) for x, y in points]
    front = []
    for i, (x, y) in enumerate(keyed):
        if not any((a >= x and b >= y) and (a > x or b > y) for j, (a, b) in enumerate(keyed) if j != i):
            front.append(i)
    return front


def ci_front(points: Sequence[tuple[tuple[float, float], tuple[float, float]]], maximize_x: bool,
             maximize_y: bool = True) -> list[int]:
    """Indices of the points that no other point beats **beyond the CIs** on both axes. A point is a pair of
    intervals ((x_low, x_high), (y_low, y_high)); j beats i beyond the CIs when j's worst end is better than i's
    best end on both axes. The front of the means is a subset of this one; the points on this front but not on
    the means' front are indistinguishable from the front at this number of seeds."""
    def worse(i: int, j: int) -> bool:  # j beats i beyond the CIs on both axes
        (xi, yi), (xj, yj) = points[i], points[j]
        bx = xj[0] > xi[1] if maximize_x else xj[1] < xi[0]
        by = yj[0] > yi[1] if maximize_y else yj[1] < yi[0]
        return bx and by

    return [i for i in range(len(points)) if not any(worse(i, j) for j in range(len(points)) if j != i)]


def interpolate_at(xs: Sequence[float], ys: Sequence[float], at: float) -> float | None:
    """y at x = `at` on the piecewise-linear curve through (xs, ys) sorted by x; None outside the measured range
    (no extrapolation)."""
    pts = sorted(zip(xs, ys, strict=True))
    if not pts or at < pts[0][0] or at > pts[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if x0 <= at <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (at - x0) / (x1 - x0)
    return pts[0][1]  # a single point exactly at `at`
