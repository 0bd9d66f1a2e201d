"""From scored samples to preference pairs: filters, pairing strategies and gap statistics.

Pure functions over lists, so every count can be checked by hand. Each function returns what it kept
and a count of what it dropped and why; `alignlab pairs` sums those counts into `pairs_report.json`,
where they must add up (samples = kept + every drop reason; candidate pairs = pairs + every drop reason).
"""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter
from collections.abc import Sequence

# A reply ends a sentence when its last non-space character is . ! or ?, possibly inside closing quotes/brackets.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s*$")
TIE_TOLERANCE = 1e-9


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text))


def filter_completions(completions: Sequence[str], token_counts: Sequence[int], min_tokens: int = 0,
                       require_sentence_end: bool = False, drop_duplicates: bool = True) -> tuple[list[int], Counter]:
    """Indices of the completions that pass, and a count per drop reason (first failing reason only)."""
    kept, dropped, seen = [], Counter(), set()
    for i, (text, n) in enumerate(zip(completions, token_counts, strict=True)):
        if n < min_tokens:
            dropped["too_short"] += 1
        elif require_sentence_end and not ends_sentence(text):
            dropped["unfinished"] += 1
        elif drop_duplicates and text.strip() in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(text.strip())
            kept.append(i)
    return kept, dropped


def _all_pairs(scores: Sequence[float], min_gap: float) -> tuple[list[tuple[int, int]], Counter]:
    pairs, counts = [], Counter()
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            counts["candidates"] += 1
            hi, lo = (i, j) if scores[i] >= scores[j] else (j, i)
            gap = scores[hi] - scores[lo]
            if gap <= TIE_TOLERANCE:
                counts["ties"] += 1
            elif gap < min_gap:
                counts["below_gap"] += 1
            else:
                pairs.append((hi, lo))
    return pairs, counts


def _one_pair(best: int, other: int | None, scores: Sequence[float], min_gap: float):
    counts = Counter(candidates=1)
    if other is None or scores[best] - scores[other] <= TIE_TOLERANCE:
        counts["ties"] += 1
        return [], counts
    if scores[best] - scores[other] < min_gap:
        counts["below_gap"] += 1
        return [], counts
    return [(best, other)], counts


def _best_worst(scores, min_gap, rng):
    best = max(range(len(scores)), key=lambda i: scores[i])
    worst = min(range(len(scores)), key=lambda i: scores[i])
    return _one_pair(best, worst, scores, min_gap)


def _best_random(scores, min_gap, rng):
    best = max(range(len(scores)), key=lambda i: scores[i])
    lower = [i for i in range(len(scores)) if scores[best] - scores[i] > TIE_TOLERANCE]
    return _one_pair(best, rng.choice(lower) if lower else None, scores, min_gap)


STRATEGIES = {
    "all": lambda scores, min_gap, rng: _all_pairs(scores, min_gap),
    "best_worst": _best_worst,
    "best_random": _best_random,
}
"""Pairing strategies: scores of one prompt's kept samples → ([(chosen, rejected) indices], counts)."""


def make_pairs(scores: Sequence[float], strategy: str = "all", min_gap: float = 0.0,
               min_best_score: float | None = None, rng: random.Random | None = None
               ) -> tuple[list[tuple[int, int]], Counter]:
    """Pairs of one prompt. counts: candidates = pairs + ties + below_gap + best_below_min."""
    if len(scores) < 2:
        return [], Counter(too_few_samples=1)
    pairs, counts = STRATEGIES[strategy](scores, min_gap, rng or random.Random(0))
    if pairs and min_best_score is not None and max(scores) < min_best_score:
        counts["best_below_min"] += len(pairs)
        pairs = []
    counts["pairs"] += len(pairs)
    return pairs, counts


def gap_stats(gaps: Sequence[float]) -> dict[str, float | int | None]:
    """Median, mean and sample SD of score gaps (chosen − rejected), as study D reports them."""
    if not gaps:
        return {"count": 0, "median": None, "mean": None, "sd": None, "min": None, "max": None}
    return {"count": len(gaps), "median": statistics.median(gaps), "mean": statistics.fmean(gaps),
            "sd": statistics.stdev(gaps) if len(gaps) > 1 else 0.0, "min": min(gaps), "max": max(gaps)}
