"""The sweep report's reward over-optimisation section: gold and proxy against √KL per proxy, mean over seeds with
seed-CI bands, Gao et al.'s fitted form on gold, and a table of the fits and of the seed-level peak test
(`experiments/overoptimisation.py`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from alignlab.evaluation.overoptimisation import FORM_TEXT, Fit  # noqa: E402
from alignlab.report.page import save_figure  # noqa: E402

HEADERS = ["cell", "proxy", "seeds", "points", "fit", "α", "β", "KL at the fitted gold peak", "measured peak: √KL, gold",
           "gold drop after the peak [CI]", "proxy rise after the peak [CI]", "over-optimised beyond the seed CIs"]


def _band(ax, d, stats, color, style):
    ax.plot(d, [s["mean"] for s in stats], style, color=color, markersize=3, lw=1.2)
    if all(s.get("ci_low") is not None for s in stats):
        ax.fill_between(d, [s["ci_low"] for s in stats], [s["ci_high"] for s in stats], color=color, alpha=0.15)


def figure(curves: dict[str, dict], out: Path) -> Path | None:
    """One row per proxy: gold (left) and proxy (right) against √KL, one line per cell (RL: solid, best-of-n:
    dotted), seed-CI bands, the fitted form on gold dashed, the measured gold peak circled."""
    if not curves:
        return None
    proxies = list(dict.fromkeys(c["proxy"] for c in curves.values()))
    fig, axes = plt.subplots(len(proxies), 2, figsize=(11, 3.4 * len(proxies)), squeeze=False)
    for row, proxy in enumerate(proxies):
        a, b = axes[row]
        for i, (name, c) in enumerate((n, c) for n, c in curves.items() if c["proxy"] == proxy):
            color, style = f"C{i % 10}", "o-" if c["form"] == "rl" else "s:"
            d = [p["sqrt_kl"] for p in c["points"]]
            _band(a, d, [p["gold"] for p in c["points"]], color, style)
            _band(b, d, [p["proxy"] for p in c["points"]], color, style)
            a.plot([], [], style, color=color, label=name)
            peak = c["points"][c["peak_index"]]
            a.scatter([peak["sqrt_kl"]], [peak["gold"]["mean"]], s=110, facecolors="none", edgecolors=color)
            if c["fit"] is not None:
                f = Fit(c["form"], c["fit"]["alpha"], c["fit"]["beta"], c["points"][0]["gold"]["mean"], None,
                        c["fit"]["d_max"])
                grid = [f.d_max * j / 50 for j in range(51)]
                a.plot(grid, f.predict(grid), "--", color=color, alpha=0.6, lw=1)
        for ax, label in ((a, "gold reward"), (b, "proxy reward (optimised)")):
            ax.set_xlabel("√KL to the starting model")
            ax.set_ylabel(label)
            ax.set_title(f"proxy {proxy}", fontsize=9)
            ax.grid(alpha=0.3)
        a.legend(fontsize=7)
    return save_figure(fig, out)


def _ci(m: dict | None, signed: bool = True) -> str:
    if m is None:
        return "- (the peak is the last point)"
    text = f"{m['mean']:+.3f}" if signed else f"{m['mean']:.3f}"
    return text + (f" [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]" if m.get("ci_low") is not None else " (no CI: < 3 seeds)")


def rows(curves: dict[str, dict]) -> list[list[str]]:
    out = []
    for name, c in curves.items():
        f = c["fit"]
        if f is None:
            fit_cells = ["- (fewer than 3 points)"] * 4
        else:
            peak = ("no peak (β ≤ 0)" if f["kl_peak"] is None else f"{f['kl_peak']:.2f}"
                    + ("" if f["peak_observed"] else f" (extrapolated: beyond the measured {f['d_max'] ** 2:.2f})"))
            fit_cells = [FORM_TEXT[c["form"]], f"{f['alpha']:+.3f}", f"{f['beta']:+.3f}", peak]
        p = c["points"][c["peak_index"]]
        verdict = c.get("overoptimised")
        out.append([name, c["proxy"], str(len(c["seeds"])), str(len(c["points"])), *fit_cells,
                    f"{p['sqrt_kl']:.2f}, {p['gold']['mean']:.3f}", _ci(c.get("gold_drop")), _ci(c.get("proxy_rise")),
                    "no verdict (< 3 seeds, or no point after the peak)" if verdict is None else ("yes" if verdict else "no")])
    return out


NOTE = ("mean over seeds at each evaluation (RL: along training; best-of-n: over n, KL = log n − (n − 1)/n), "
        "bands: 95% seed CI; dashed: Gao et al.'s form fitted to the mean gold; circled: the measured gold peak. "
        "The test pairs each seed's gold at the peak with its gold at the last point (and the proxy likewise); the "
        "peak is chosen on the same seeds, so the drop is optimistic. A fitted peak beyond the measured KL is an "
        "extrapolation, not an observation.")
