"""Statistics across the runs of a sweep: seed CIs, paired bootstrap against a baseline, the Pareto front.

Pure functions on lists of floats; each is tested against values worked out by hand.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

from scipy import stats as scipy_stats


def seed_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean and Student-t CI of one metric over seeds: mean ± t_{n-1} · s / √n (n = 1: the CI is the point)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0, "sd": math.nan}
    mean = statistics.fmean(vals)
    if n == 1:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": 1, "sd": 0.0}
    sd = statistics.stdev(vals)
    half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n, "sd": sd}


def paired_bootstrap(treatment: Sequence[float], baseline: Sequence[float], resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Mean paired difference treatment − baseline over shared units (prompt × seed), its percentile bootstrap CI
    and a two-sided p-value: twice the smaller share of resampled means on either side of 0 (floored at one
    resample, so p ≥ 1/resamples)."""
    if len(treatment) != len(baseline) or not treatment:
        raise ValueError(f"paired_bootstrap needs two equal, non-empty lists (got {len(treatment)} and {len(baseline)})")
    diffs = [a - b for a, b in zip(treatment, baseline, strict=True)]
    n = len(diffs)
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=n)) for _ in range(resamples))
    lo_i = int(math.floor((1 - level) / 2 * (resamples - 1)))
    hi_i = int(math.ceil((1 + level) / 2 * (resamples - 1)))
    below = sum(m <= 0 for m in means) / resamples
    above = sum(m >= 0 for m in means) / resamples
    p = min(1.0, max(2 * min(below, above), 1 / resamples))
    return {"diff": statistics.fmean(diffs), "ci_low": means[lo_i], "ci_high": means[hi_i], "p_value": p, "n": n}


def pareto_front(points: Sequence[tuple[float, float]], maximize_x: bool, maximize_y: bool = True) -> list[int]:
    """Indices of the points no other point dominates (at least as good on both axes, better on one)."""
    sx, sy = (1 if maximize_x else -1), (1 if maximize_y else -1)
    keyed = [(sx * x, sy * y) for x, y in points]
    front = []
    for i, (x, y) in enumerate(keyed):
        if not any((a >= x and b >= y) and (a > x or b > y) for j, (a, b) in enumerate(keyed) if j != i):
            front.append(i)
    return front
