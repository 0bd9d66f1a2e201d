"""Printing evaluation records (eval.json) and comparing several of them in one compact table."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from alignlab.runs.progress import console

COMPACT = [("gold", "gold_reward_mean"), ("proxy", "reward_mean"), ("KL", "kl_k1"), ("entropy", "pooled_entropy"),
           ("distinct-2", "distinct_2")]
"""Columns of the comparison table: (header, metric of eval.json's `metrics`)."""


def _fmt(v, signed: bool = True) -> str:
    if v is None:
        return "-"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def kl_text(m: dict) -> str:
    if "kl_k1" not in m:
        return "-"
    return f"{m['kl_k1']:.2f} [{m.get('kl_ci_low', 0):.2f}, {m.get('kl_ci_high', 0):.2f}]"


def gold_text(m: dict) -> str:
    """Gold mean with its normal 95% CI over the replies (mean ± 1.96 standard errors)."""
    if "gold_reward_mean" not in m:
        return "-"
    mean, half = m["gold_reward_mean"], 1.96 * m.get("gold_reward_stderr", 0.0)
    return f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"


def win_text(win: dict | None) -> str:
    if not win:
        return "-"
    return f"{win['win_rate']:.2f} [{win['ci_low']:.2f}, {win['ci_high']:.2f}]"


def comparison_rows(records: dict[str, dict]) -> list[list[str]]:
    """One row per evaluated model: method, gold [CI], proxy, KL [CI], diversity, win rate [CI] vs the baseline."""
    rows = []
    for name, rec in records.items():
        m = rec["metrics"]
        win = rec.get("win_rate")
        rows.append([name, gold_text(m), _fmt(m.get("reward_mean")), kl_text(m),
                     _fmt(m.get("pooled_entropy"), False), _fmt(m.get("distinct_2"), False),
                     win_text(win), f"{win['ties']:.0%}" if win else "-"])
    return rows


COMPARISON_HEADERS = ["method", "gold [95% CI]", "proxy", "KL [95% CI]", "entropy", "dist-2", "win rate [95% CI]", "ties"]


def print_comparison(records: dict[str, dict], title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for h in COMPARISON_HEADERS:
        table.add_column(h, justify="left" if h == "method" else "right", no_wrap=True)
    for row in comparison_rows(records):
        table.add_row(*row)
    # Pipes and logs get 80 columns by default, too narrow for this table; a wider terminal keeps its width.
    Console(stderr=True, width=max(console.width, 130)).print(table)


def print_eval(rec: dict) -> None:
    """The one-model summary of `alignlab eval`."""
    m = rec["metrics"]
    console.print(f"[bold]{rec['model']}[/bold]: {rec['prompts']} prompts x {rec['samples_per_prompt']} samples "
                  f"(seed {rec['seed']}, split {rec['split']})")
    console.print(f"  reward: proxy ({rec['scorers']['proxy']}) {_fmt(m['reward_mean'])}"
                  + (f"   gold ({rec['scorers']['gold']}) {_fmt(m.get('gold_reward_mean'))}" if rec['scorers']['gold'] else ""))
    if "kl_k1" in m:
        console.print(f"  KL to {rec['reference']}: {kl_text(m)} (sequence k1, 95% CI); k3 {m['kl_k3']:.3f}")
        g = rec["generation"]
        if g["temperature"] != 1.0 or g["top_k"] or g["top_p"] < 1.0:
            console.print(f"  [yellow]note:[/yellow] replies were sampled with temperature={g['temperature']}, "
                          f"top_k={g['top_k']}, top_p={g['top_p']}, not from the policy itself, so this is not an "
                          "unbiased KL(policy || reference) (it can even be negative); for that use "
                          "generation.temperature=1 generation.top_k=0 generation.top_p=1 (or -c quickstart/eval)")
    console.print(f"  diversity: pooled token entropy {m['pooled_entropy']:.3f}  distinct-1 {m['distinct_1']:.3f}  "
                  f"distinct-2 {m['distinct_2']:.3f}  self-BLEU {m['self_bleu']:.3f}"
                  + (f"  embedding {m['embedding_diversity']:.3f}" if "embedding_diversity" in m else ""))
    console.print(f"  length: mean {m['response_length']:.1f} tokens (median {m['length_median']:.0f}, max "
                  f"{m['length_max']:.0f})  incomplete {m['truncated_fraction']:.1%}  repetition "
                  f"{m['repetition_rate']:.3f}  identical within prompt {m['identical_fraction']:.1%}")
    win = rec.get("win_rate")
    if win:
        console.print(f"  win rate vs {win['baseline']}: {win_text(win)}; wins {win['wins']:.0%}, losses "
                      f"{win['losses']:.0%} (judge {rec['scorers']['judge']}, {win['n']} pairs)")
        if "judge_difference" in win:
            d = win["judge_difference"]
            console.print(f"  judge score {win['policy_judge_mean']:.3f} vs {win['baseline_judge_mean']:.3f}: difference "
                          f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] (paired over replies)")
        if "length_controlled" in win:
            lc = win["length_controlled"]
            console.print(f"  length-controlled win rate: {lc['win_rate']:.2f} [{lc['ci_low']:.2f}, {lc['ci_high']:.2f}]")
    if rec.get("pairs"):
        p = rec["pairs"]
        console.print(f"  held-out pairs ({p['pairs']}): accuracy {p['pair_accuracy']:.3f}  implicit-reward margin "
                      f"{p['reward_margin']:+.3f} [{p['reward_margin_ci_low']:+.3f}, {p['reward_margin_ci_high']:+.3f}]")
    if rec.get("perplexity"):
        console.print(f"  perplexity on held-out {rec['perplexity']['dataset']}: {rec['perplexity']['perplexity']:.2f}")
        base = rec["perplexity"].get("baseline")
        if base:
            console.print(f"  held-out NLL vs {base['model']}: {base['nll_diff_per_token']:+.4f} nats/token "
                          f"[{base['per_token_ci_low']:+.4f}, {base['per_token_ci_high']:+.4f}] "
                          f"({rec['perplexity']['nll']:.4f} vs {base['nll']:.4f}; lower on "
                          f"{base['better']:.0%} of {base['examples']} examples)")
    console.print(f"wrote {rec['out_dir']}/eval.json and samples.jsonl in {rec['seconds']:.0f} s")
