"""The functional forms of reward over-optimisation (Gao, Schulman & Hilton 2022), fitted to gold against √KL.

With d = √KL(π ‖ π_init) and R(d) the gold reward gained over the starting policy (R(0) = 0):

    best-of-n:  R_bon(d) = d (α − β d)          peak at d* = α / (2β)
    RL:         R_RL(d)  = d (α − β log d)      peak at d* = exp(α/β − 1)

Both are linear in (α, β), so they are fitted by least squares without an intercept: R = α·d − β·d² (best-of-n),
R = α·d − β·d·log d (RL). β > 0 means the gain bends down, and the fitted peak is at KL* = d*²; β ≤ 0 means no
peak within the form (the gain still rises). A fit is a description of the curve it was given, not a test: its
peak lies outside the measured range when the curve has not yet turned, and then it is an extrapolation
(`Fit.peak_observed` says which).

Best-of-n (`best_of_n_curve`): the policy that samples n replies and returns the one the proxy scores highest. Its
KL to the sampling policy is analytic, KL_bon = log n − (n − 1)/n (Stiennon et al. 2020; Gao et al. eq. 2), and its
expected gold and proxy are estimated without bias from N ≥ n replies per prompt: with the replies sorted by proxy
(rank i = 1..N ascending), the i-th is the best of a random n-subset with probability C(i − 1, n − 1) / C(N, n), so

    E[gold of best-of-n] = Σ_{i=n}^{N} C(i − 1, n − 1) / C(N, n) · gold_(i)

and the same for the proxy. Replies the proxy ties are averaged over (a tie is broken at random).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alignlab.evaluation.metrics import stderr

FORMS = ("bon", "rl")
FORM_TEXT = {"bon": "d(α − βd)", "rl": "d(α − β log d)"}
"""Each form as a formula, for figures and tables."""


def kl_best_of_n(n: int) -> float:
    """KL(best-of-n ‖ the sampling policy) = log n − (n − 1)/n, in nats (0 at n = 1)."""
    if n < 1:
        raise ValueError(f"best-of-n needs n ≥ 1 (got {n})")
    return math.log(n) - (n - 1) / n


def best_of_n_weights(n: int, total: int) -> np.ndarray:
    """[total] probability that the reply of proxy rank i (ascending, 0-based) is the best of a random n-subset of
    `total` replies: C(i, n − 1) / C(total, n); sums to 1."""
    if not 1 <= n <= total:
        raise ValueError(f"best-of-{n} needs at least {n} replies per prompt (got {total})")
    denom = math.comb(total, n)
    return np.array([math.comb(i, n - 1) / denom for i in range(total)])


def best_of_n_expectation(proxy: Sequence[float], values: Sequence[float], n: int) -> float:
    """Unbiased estimate of E[value of the reply the proxy ranks highest among n] from one prompt's replies."""
    p, v = np.asarray(proxy, dtype=float), np.asarray(values, dtype=float)
    if p.shape != v.shape or p.ndim != 1:
        raise ValueError(f"proxy and values must be 1-D of equal length (got {p.shape}, {v.shape})")
    order = np.argsort(p, kind="stable")
    p, v = p[order], v[order]
    _, group, counts = np.unique(p, return_inverse=True, return_counts=True)
    tied = np.bincount(group, weights=v) / counts  # a tie of the proxy is broken at random: its mean value
    return float(best_of_n_weights(n, len(p)) @ tied[group])


def best_of_n_curve(proxy: Sequence[Sequence[float]], gold: Sequence[Sequence[float]], ns: Sequence[int]) -> list[dict]:
    """One row per n: n, kl, sqrt_kl, and the mean over prompts of the best-of-n proxy and gold (with the
    standard error over prompts). proxy, gold: [prompts][N replies] of the same replies."""
    rows = []
    for n in ns:
        pr = [best_of_n_expectation(p, p, n) for p in proxy]
        go = [best_of_n_expectation(p, g, n) for p, g in zip(proxy, gold, strict=True)]
        kl = kl_best_of_n(n)
        rows.append({"n": int(n), "kl": kl, "sqrt_kl": math.sqrt(kl), "proxy": float(np.mean(pr)),
                     "gold": float(np.mean(go)), "proxy_stderr": stderr(pr), "gold_stderr": stderr(go),
                     "prompts": len(go)})
    return rows



@dataclass(frozen=True)
class Fit:
    form: str
    alpha: float
    beta: float
    gold_start: float
    """Gold at d = 0 (the first point), subtracted before fitting."""
    d_peak: float | None
    """√KL where the fitted gold peaks; None when β ≤ 0 (no peak)."""
    d_max: float
    """The largest √KL measured."""

    @property
    def kl_peak(self) -> float | None:
        return None if self.d_peak is None else self.d_peak ** 2

    @property
    def peak_observed(self) -> bool:
        """The fitted peak lies inside the measured range of √KL (not an extrapolation)."""
        return self.d_peak is not None and self.d_peak <= self.d_max

    def predict(self, d: Sequence[float]) -> list[float]:
        return [self.gold_start + v for v in _gain(self.form, np.asarray(d, dtype=float), self.alpha, self.beta)]


def _features(form: str, d: np.ndarray) -> np.ndarray:
    if form == "bon":
        return np.stack([d, -d * d], axis=1)
    safe = np.where(d > 0, d, 1.0)
    return np.stack([d, -d * np.log(safe)], axis=1)  # d log d → 0 as d → 0


def _gain(form: str, d: np.ndarray, alpha: float, beta: float) -> list[float]:
    return (_features(form, d) @ np.array([alpha, beta])).tolist()


def fit(form: str, d: Sequence[float], gold: Sequence[float]) -> Fit:
    """Least-squares fit of `form` (bon | rl) to gold against d = √KL; the first point is the start (d ≈ 0)."""
    if form not in FORMS:
        raise ValueError(f"unknown over-optimisation form '{form}'; available: {', '.join(FORMS)}")
    if len(d) != len(gold) or len(d) < 3:
        raise ValueError(f"a fit needs at least 3 points of (√KL, gold) of equal length (got {len(d)}, {len(gold)})")
    x, y = np.asarray(d, dtype=float), np.asarray(gold, dtype=float)
    start = float(y[0])
    (alpha, beta), *_ = np.linalg.lstsq(_features(form, x), y - start, rcond=None)
    alpha, beta = float(alpha), float(beta)
    if beta <= 0:
        peak = None
    elif form == "bon":
        peak = alpha / (2 * beta)
    else:
        peak = math.exp(min(alpha / beta - 1, 50.0))
    return Fit(form, alpha, beta, start, peak, float(x.max()))
