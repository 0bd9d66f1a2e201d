"""Cheap text scorers: VADER sentiment, length shape, sentence completion and repetition.

All read the completion only (the prompt is the same for every sample of a prompt).
"""

from __future__ import annotations

from functools import lru_cache

from alignlab.data.pairing import ends_sentence
from alignlab.data.text import distinct_ngram_ratio, length_shape


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_compound(texts: list[str]) -> list[float]:
    analyzer = _analyzer()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]


def vader(prompts: list[str], completions: list[str]) -> list[float]:
    """VADER compound score in [-1, 1] (a lexicon sentiment scorer: a proxy of the built-in task, not its gold)."""
    return vader_compound(completions)


def length(min_words: int, max_words: int):
    def score(prompts: list[str], completions: list[str]) -> list[float]:
        return [length_shape(len(c.split()), min_words, max_words) for c in completions]
    return score


def complete(prompts: list[str], completions: list[str]) -> list[float]:
    """1 when the reply ends a sentence (. ! ?), else 0: cut-off replies score 0."""
    return [float(ends_sentence(c)) for c in completions]


def repetition(n: int):
    def score(prompts: list[str], completions: list[str]) -> list[float]:
        return [distinct_ngram_ratio(c, n) for c in completions]
    return score
