"""Cheap text scorers: VADER sentiment, length shape, sentence completion and repetition.

All read the completion only (the prompt is the same for every sample of a prompt).
"""

from __future__ import annotations

from functools import lru_cache

from alignlab.data.pairing import ends_sentence


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


def length_shape(n_words: int, min_words: int, max_words: int) -> float:
    """1 inside [min_words, max_words]; rises linearly from 0 below; falls to 0 at twice max_words above."""
    if n_words < min_words:
        return n_words / min_words
    if n_words <= max_words:
        return 1.0
    return max(0.0, 1.0 - (n_words - max_words) / max_words)


def length(min_words: int, max_words: int):
    def score(prompts: list[str], completions: list[str]) -> list[float]:
        return [length_shape(len(c.split()), min_words, max_words) for c in completions]
    return score


def complete(prompts: list[str], completions: list[str]) -> list[float]:
    """1 when the reply ends a sentence (. ! ?), else 0: cut-off replies score 0."""
    return [float(ends_sentence(c)) for c in completions]


def distinct_ngram_ratio(text: str, n: int) -> float:
    """Distinct word n-grams / all word n-grams; 1 for text too short to repeat an n-gram."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def repetition(n: int):
    def score(prompts: list[str], completions: list[str]) -> list[float]:
        return [distinct_ngram_ratio(c, n) for c in completions]
    return score
