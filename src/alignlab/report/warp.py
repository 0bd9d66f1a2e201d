"""WARP's report: every evaluated model (start, runs, SLERP, LITI, final, sweep points) with reward, gold reward
and KL to the starting model; the per-round comparison of the merge with its runs; the reward–KL plot."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from alignlab.runs.atomic import atomic_write_json

SHOWN = (("reward_mean", "reward", "+.4f"), ("gold_reward_mean", "gold", "+.4f"), ("kl_k1", "KL k1", ".3f"),
         ("kl_k3", "KL k3", ".3f"), ("entropy", "entropy", ".3f"), ("response_length", "length", ".1f"),
         ("identical_fraction", "identical", ".2f"))


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
        """Per round: the runs' mean reward and KL against the SLERP's and the LITI's (check: the merge reaches
        at least the runs' mean reward at no higher KL)."""
        rounds = {}
        for _, slerp in self.of_kind("slerp"):
            i = slerp["iteration"]
            runs = [e for _, e in self.of_kind("run", i)]
            if not runs:
                continue
            mean = {m: statistics.fmean(e[m] for e in runs) for m in ("reward_mean", "kl_k1") if m in runs[0]}
            out = {"runs_reward_mean": mean.get("reward_mean"), "runs_kl_mean": mean.get("kl_k1"),
                   "slerp_reward": slerp["reward_mean"], "slerp_kl": slerp.get("kl_k1")}
            if "gold_reward_mean" in runs[0]:
                out |= {"runs_gold_mean": statistics.fmean(e["gold_reward_mean"] for e in runs),
                        "slerp_gold": slerp.get("gold_reward_mean")}
            out["slerp_reward_at_least_runs_mean"] = out["slerp_reward"] >= out["runs_reward_mean"]
            if out["slerp_kl"] is not None and out["runs_kl_mean"] is not None:
                out["slerp_kl_at_most_runs_mean"] = out["slerp_kl"] <= out["runs_kl_mean"]
            after = self.of_kind("liti", i) + self.of_kind("final", i)
            if after:
                out |= {"liti_reward": after[0][1]["reward_mean"], "liti_kl": after[0][1].get("kl_k1")}
            rounds[str(i)] = out
        sweep = [{"eta": e["eta"], "reward": e["reward_mean"], "kl": e.get("kl_k1")}
                 for _, e in sorted(self.of_kind("sweep"), key=lambda kv: kv[1]["eta"])]
        return {"rounds": rounds, "sweep": sweep}

    def rows(self) -> list[list[str]]:
        """One printable row per entry: key, then the SHOWN metrics."""
        return [[key] + [format(e[m], f) if m in e else "-" for m, _, f in SHOWN] for key, e in self.entries.items()]

    def plot(self, out: Path) -> Path:
        """Reward against KL to the start: runs, SLERPs and LITIs as points, the sweep as a line."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.5))
        sweep = sorted((e["eta"], e.get("kl_k1", 0.0), e["reward_mean"]) for _, e in self.of_kind("sweep"))
        if sweep:
            ax.plot([s[1] for s in sweep], [s[2] for s in sweep], "-o", color="gray", label="sweep start → SLERP")
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
