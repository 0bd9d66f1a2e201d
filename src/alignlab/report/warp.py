"""WARP's report: every evaluated model (start, runs, SLERP, LITI, final, sweep points) with reward, gold reward
and KL to the starting model; the per-round comparison of the merge with its runs; the reward–KL plot."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from alignlab.runs.atomic import atomic_write_json

SHOWN = (("reward_mean", "reward", "+.4f"), ("reward_stderr", "± s.e.", ".4f"), ("gold_reward_mean", "gold", "+.4f"),
         ("kl_k1", "KL", ".3f"), ("entropy", "entropy", ".3f"), ("response_length", "length", ".1f"))


class WarpReport:
    """warp.json: {"entries": {key: {kind, iteration, path | eta, metrics…}}}, rewritten after every entry."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = (json.loads(self.path.read_text())["entries"] if self.path.exists() else {})

    def add(self, key: str, row: dict) -> None:
        self.entries[key] = row
        atomic_write_json(self.path, {"entries": self.entries, "summary": self.summary()})

    def of_kind(self, kind: str, iteration: int | None = None) -> list[tuple[str, dict]]:
        return [(k, e) for k, e in self.entries.items()
                if e["kind"] == kind and (iteration is None or e.get("iteration") == iteration)]

    def summary(self) -> dict:
        """Per round, the runs' mean reward and KL against the SLERP's and the LITI's; on the sweep, the merge's
        curve at the runs' mean KL (WARP's claim: at least the runs' reward at no higher KL), and how far the
        curve towards the SLERP lies above the curve towards a single run, averaged over that run's points."""
        rounds = {str(e["iteration"]): self._round(e) for _, e in self.of_kind("slerp") if self.of_kind("run", e["iteration"])}
        curves = {t: self.curve(t) for t in self._targets()}
        if rounds and curves.get("slerp"):
            last = rounds[max(rounds, key=int)]
            last["sweep_reward_at_runs_kl"] = reward_at(curves["slerp"], last["runs_kl_mean"])
        gain = {}
        for target, curve in curves.items():
            above = [reward_at(curves.get("slerp", []), kl) for kl, _ in curve]
            diffs = [a - r for a, (kl, r) in zip(above, curve, strict=True) if a is not None and kl > 0]
            if target != "slerp" and diffs:
                gain[f"slerp_minus_{target}"] = statistics.fmean(diffs)
        return {"rounds": rounds, "curve_gain": gain,
                "sweep": {t: [{"kl": kl, "reward": r} for kl, r in c] for t, c in curves.items()}}

    def _round(self, slerp: dict) -> dict:
        i = slerp["iteration"]
        runs = [e for _, e in self.of_kind("run", i)]
        out = {"runs_reward_mean": statistics.fmean(e["reward_mean"] for e in runs),
               "runs_kl_mean": statistics.fmean(e.get("kl_k1", 0.0) for e in runs),
               "slerp_reward": slerp["reward_mean"], "slerp_kl": slerp.get("kl_k1", 0.0)}
        if "gold_reward_mean" in runs[0]:
            out |= {"runs_gold_mean": statistics.fmean(e["gold_reward_mean"] for e in runs),
                    "slerp_gold": slerp.get("gold_reward_mean")}
        out["slerp_reward_at_least_runs_mean"] = out["slerp_reward"] >= out["runs_reward_mean"]
        out["slerp_kl_at_most_runs_mean"] = out["slerp_kl"] <= out["runs_kl_mean"]
        after = self.of_kind("liti", i) + self.of_kind("final", i)
        if after:
            out |= {"liti_reward": after[0][1]["reward_mean"], "liti_kl": after[0][1].get("kl_k1", 0.0)}
        return out

    def curve(self, target: str = "slerp") -> list[tuple[float, float]]:
        """(KL, reward) of the sweep points towards `target`, in order of η."""
        pts = sorted((e["eta"], e.get("kl_k1", 0.0), e["reward_mean"]) for _, e in self.of_kind("sweep")
                     if e.get("target", "slerp") == target)
        return [(kl, r) for _, kl, r in pts]

    def _targets(self) -> list[str]:
        return sorted({e.get("target", "slerp") for _, e in self.of_kind("sweep")})

    def rows(self) -> list[list[str]]:
        """One printable row per entry: key, then the SHOWN metrics."""
        return [[key] + [format(e[m], f) if m in e else "-" for m, _, f in SHOWN] for key, e in self.entries.items()]

    def print_summary(self, console) -> None:
        """The table of every evaluated model, then each round's runs against their merge, on a rich console."""
        from rich.table import Table

        table = Table(title="WARP: held-out reward and KL to the starting model")
        for header in ["model", *(name for _, name, _ in SHOWN)]:
            table.add_column(header, justify="left" if header == "model" else "right", no_wrap=header == "model")
        for row in self.rows():
            table.add_row(*row)
        console.print(table)
        summary = self.summary()
        for i, r in summary["rounds"].items():
            console.print(f"round {i}: runs' mean reward {r['runs_reward_mean']:+.4f} (KL {r['runs_kl_mean']:.3f}); "
                          f"SLERP {r['slerp_reward']:+.4f} (KL {r['slerp_kl']:.3f}); LITI "
                          f"{r.get('liti_reward', 0):+.4f} (KL {r.get('liti_kl', 0):.3f})")
            if r.get("sweep_reward_at_runs_kl") is not None:
                console.print(f"  sweep start → SLERP at the runs' mean KL: reward {r['sweep_reward_at_runs_kl']:+.4f} "
                              f"(runs' mean {r['runs_reward_mean']:+.4f})")
        for name, gain in summary["curve_gain"].items():
            console.print(f"curve start → SLERP minus curve start → {name.removeprefix('slerp_minus_')} at equal KL: "
                          f"{gain:+.4f} reward (mean over the run curve's points)")
        console.print("(final/, warp.json, reward_kl.png in the run directory)")

    def plot(self, out: Path) -> Path:
        """Reward against KL to the start: runs, SLERPs and LITIs as points, the sweep as a line."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.5))
        for target, style in (("slerp", "-o"), *((t, "--.") for t in self._targets() if t != "slerp")):
            curve = self.curve(target)
            if curve:
                ax.plot([c[0] for c in curve], [c[1] for c in curve], style, label=f"start → {target}")
        for kind, marker in (("start", "s"), ("run", "x"), ("slerp", "*"), ("liti", "^"), ("final", "D")):
            pts = self.of_kind(kind)
            if pts:
                ax.scatter([e.get("kl_k1", 0.0) for _, e in pts], [e["reward_mean"] for _, e in pts], marker=marker,
                           s=80, label=kind, zorder=3)
                for key, e in pts:
                    ax.annotate(key, (e.get("kl_k1", 0.0), e["reward_mean"]), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
        ax.set_xlabel("KL(policy || start) on held-out samples (k1, nats)")
        ax.set_ylabel("reward (held-out mean)")
        ax.set_title("WARP: reward vs KL")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return out


def reward_at(curve: list[tuple[float, float]], kl: float | None) -> float | None:
    """Reward of a (KL, reward) curve at `kl`, linearly interpolated between neighbouring points; None outside
    the KL range the curve covers."""
    if kl is None:
        return None
    pts = sorted(curve)
    for (k0, r0), (k1, r1) in zip(pts, pts[1:], strict=False):
        if k0 <= kl <= k1:
            return r0 if k1 == k0 else r0 + (r1 - r0) * (kl - k0) / (k1 - k0)
    return None
