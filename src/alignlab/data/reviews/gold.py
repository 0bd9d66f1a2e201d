"""The gold reward of the built-in task: VADER's compound sentiment score in [-1, 1].

It defines the task (which review is better), so it lives with the data; `alignlab.rewards` wraps it as the
`vader` scorer.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_compound(texts: list[str]) -> list[float]:
    analyzer = _analyzer()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]
