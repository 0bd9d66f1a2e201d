"""Pure metrics of generated text and paired scores: diversity, repetition, confidence intervals, win rates.

Everything here works on plain Python lists (texts, token sequences, numbers), so it is tested against values
worked out by hand. Conventions:
- "tokens" for the pooled entropy are the policy tokenizer's ids (study A counts model tokens);
- distinct-n, self-BLEU and repetition use lower-cased word tokens (`words`), the usual text-level convention;
- a group is the k replies of one prompt.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter
from collections.abc import Hashable, Sequence

Z95 = 1.959964  # two-sided 95% normal quantile
_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def entropy(counts: Counter) -> float:
    """H = −Σ p ln p (nats) of a count table; 0 for an empty table."""
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values() if c) if total else 0.0


def pooled_token_entropy(groups: Sequence[Sequence[Sequence[Hashable]]]) -> float:
    """Study A's diversity: per prompt, pool the token counts of all its replies and take their entropy;
    then average over prompts. A prompt whose replies are all empty counts with entropy 0: skipping it would make
    a collapsing policy look more diverse (count such prompts beside the metric: `empty_prompts` of eval)."""
    values = [entropy(Counter(t for reply in group for t in reply)) for group in groups]
    return statistics.fmean(values) if values else 0.0


def distinct_n(sequences: Sequence[Sequence[Hashable]], n: int) -> float:
    """Distinct n-grams / all n-grams over every sequence (Li et al. 2016); 0 when there is no n-gram."""
    grams = [g for s in sequences for g in ngrams(s, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(tokens: Sequence[Hashable], n: int = 3) -> float:
    """Fraction of a text's n-grams that repeat an earlier n-gram of the same text (0: no loop)."""
    grams = ngrams(tokens, n)
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0


def _bleu_from_counts(hyp: list[Counter], clipped_max, hyp_len: int, ref_lens: Sequence[int], max_n: int) -> float:
    """BLEU from the hypothesis' n-gram counts (hyp[n-1]) and, per n-gram, the largest reference count
    (`clipped_max(n, gram)`)."""
    if hyp_len == 0 or not ref_lens:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        counts = hyp[n - 1]
        matched, total = sum(min(c, clipped_max(n, g)) for g, c in counts.items()), sum(counts.values())
        if n > 1:
            matched, total = matched + 1, total + 1
        if matched == 0:
            return 0.0
        log_p += math.log(matched / total) / max_n
    closest = min((abs(r - hyp_len), r) for r in ref_lens)[1]
    bp = 1.0 if hyp_len >= closest else math.exp(1 - closest / hyp_len)
    return bp * math.exp(log_p)


def _ngram_counts(tokens: Sequence[Hashable], max_n: int) -> list[Counter]:
    return [Counter(ngrams(tokens, n)) for n in range(1, max_n + 1)]


def bleu(hypothesis: Sequence[Hashable], references: Sequence[Sequence[Hashable]], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002, eq. 1–2): geometric mean of clipped n-gram precisions, n = 1..max_n,
    times the brevity penalty against the closest reference length. Precisions of n > 1 use add-one smoothing
    (Lin & Och 2004), so short texts do not score 0; identical texts score exactly 1."""
    refs = [_ngram_counts(r, max_n) for r in references]
    return _bleu_from_counts(_ngram_counts(hypothesis, max_n), lambda n, g: max(r[n - 1][g] for r in refs),
                             len(hypothesis), [len(r) for r in references], max_n)


def _group_self_bleu(group: Sequence[Sequence[Hashable]], max_n: int) -> list[float]:
    """BLEU of each reply against the others, in O(k·L): per n-gram keep the two largest counts in the group and
    how many replies reach the largest, so "the largest count among the other replies" needs no k² loop."""
    counts = [_ngram_counts(r, max_n) for r in group]
    top: dict[tuple, list] = {}  # gram → [largest, replies with it, second largest]
    for c in counts:
        for per_n in c:
            for g, v in per_n.items():
                t = top.setdefault(g, [0, 0, 0])
                if v > t[0]:
                    t[:] = [v, 1, t[0]]
                elif v == t[0]:
                    t[1] += 1
                elif v > t[2]:
                    t[2] = v
    lengths = [len(r) for r in group]
    scores = []
    for i, c in enumerate(counts):
        def others_max(n, g, own=c):
            best, ties, second = top[g]
            return second if own[n - 1][g] == best and ties == 1 else best
        scores.append(_bleu_from_counts(c, others_max, lengths[i], lengths[:i] + lengths[i + 1:], max_n))
    return scores


def self_bleu(groups: Sequence[Sequence[Sequence[Hashable]]], max_n: int = 4) -> float:
    """Zhu et al. 2018: BLEU of each reply against the other replies of its prompt, averaged; 1 = all identical.
    Groups with fewer than two replies are skipped."""
    scores = [s for group in groups if len(group) > 1 for s in _group_self_bleu(group, max_n)]
    return statistics.fmean(scores) if scores else 0.0


def stderr(values: Sequence[float]) -> float:
    """Standard error of the mean, s/√n (sample standard deviation); 0 for fewer than 2 values."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def mean_ci(values: Sequence[float]) -> dict:
    """Mean with a normal-approximation 95% CI (mean ± 1.96·s/√n)."""
    if not values:
        return {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 0}
    mean = statistics.fmean(values)
    half = Z95 * stderr(values)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": len(values)}


def outcomes(policy: Sequence[float], baseline: Sequence[float], tie_margin: float = 0.0) -> list[float]:
    """Per pair: 1 win, 0.5 tie (|difference| ≤ tie_margin), 0 loss."""
    return [0.5 if abs(p - b) <= tie_margin else float(p > b) for p, b in zip(policy, baseline, strict=True)]


def ranking_accuracy(margins: Sequence[float]) -> float:
    """Share of pairs a score ranks right (margin chosen − rejected > 0), a tie counting ½: a score that cannot
    tell the two apart (a policy's implicit reward against itself: every margin 0) is at chance, not wrong."""
    return sum(outcomes(margins, [0.0] * len(margins))) / len(margins) if margins else 0.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated q-quantile (0 ≤ q ≤ 1) of already sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_ci(statistic, n: int, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% CI of `statistic(indices)` over `resamples` resamples of range(n) with replacement."""
    rng = random.Random(seed)
    values = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(resamples))
    return percentile(values, 0.025), percentile(values, 0.975)


def win_rate(policy: Sequence[float], baseline: Sequence[float], tie_margin: float = 0.0, resamples: int = 1000,
             seed: int = 0) -> dict:
    """Paired win rate of policy over baseline scores: (wins + ½ ties) / n, with win/tie/loss fractions and a
    bootstrap 95% CI (pairs resampled)."""
    out = outcomes(policy, baseline, tie_margin)
    n = len(out)
    if n == 0:
        return {"win_rate": 0.0, "wins": 0.0, "ties": 0.0, "losses": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 0}
    lo, hi = bootstrap_ci(lambda idx: sum(out[i] for i in idx) / n, n, resamples, seed)
    return {"win_rate": sum(out) / n, "wins": out.count(1.0) / n, "ties": out.count(0.5) / n,
            "losses": out.count(0.0) / n, "ci_low": lo, "ci_high": hi, "n": n}


def logistic_intercept(y: Sequence[float], x: Sequence[float], iterations: int = 25) -> float:
    """Fit P(win) = σ(a + b·x) to soft labels y ∈ [0, 1] by Newton's method (a tiny ridge on b); return σ(a),
    the win probability at x = 0."""
    a = b = 0.0
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for yi, xi in zip(y, x, strict=True):
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, a + b * xi))))
            w = p * (1 - p)
            ga, gb = ga + yi - p, gb + (yi - p) * xi
            haa, hab, hbb = haa + w, hab + w * xi, hbb + w * xi * xi
        gb -= 1e-3 * b
        hbb += 1e-3
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        a, b = a + (hbb * ga - hab * gb) / det, b + (haa * gb - hab * ga) / det
    return 1 / (1 + math.exp(-a))


def length_controlled_win_rate(policy: Sequence[float], baseline: Sequence[float], policy_len: Sequence[float],
                               baseline_len: Sequence[float], tie_margin: float = 0.0, resamples: int = 200,
                               seed: int = 0) -> dict:
    """Win rate with the length difference regressed out (in the spirit of AlpacaEval's length-controlled win
    rate, Dubois et al. 2024): a logistic model of the outcome on the standardised length difference, read at
    equal length. Bootstrap 95% CI (pairs resampled, model refitted)."""
    out = outcomes(policy, baseline, tie_margin)
    diff = [p - b for p, b in zip(policy_len, baseline_len, strict=True)]
    scale = statistics.pstdev(diff) or 1.0
    x = [d / scale for d in diff]
    if not out:
        return {"win_rate": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 0}
    lo, hi = bootstrap_ci(lambda idx: logistic_intercept([out[i] for i in idx], [x[i] for i in idx]),
                          len(out), resamples, seed)
    return {"win_rate": logistic_intercept(out, x), "ci_low": lo, "ci_high": hi, "n": len(out)}
