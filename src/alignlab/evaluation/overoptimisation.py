"""The functional forms of reward over-optimisation (Gao, Schulman & Hilton 2022), fitted to gold against √KL.

With d = √KL(π ‖ π_init) and R(d) the gold reward gained over the starting policy (R(0) = 0):

    best-of-n:  R_bon(d) = d (α − β d)          peak at d* = α / (2β)
    RL:         R_RL(d)  = d (α − β log d)      peak at d* = exp(α/β − 1)

Both are linear in (α, β), so they are fitted by least squares without an intercept: R = α·d − β·d² (best-of-n),
R = α·d − β·d·log d (RL). β > 0 means the gain bends down, and the fitted peak is at KL* = d*²; β ≤ 0 means no
peak within the form (the gain still rises). A fit is a description of the curve it was given, not a test: its
peak lies outside the measured range when the curve has not yet turned, and then it is an extrapolation
(`Fit.peak_observed` says which).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FORMS = ("bon", "rl")


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
