"""Shape measures of a reply's text, shared by the cheap scorers (`rewards/rules.py`) and the built-in task's gold
judge (`data/reviews/judge.py`)."""

from __future__ import annotations


def length_shape(n_words: int, min_words: int, max_words: int) -> float:
    """1 inside [min_words, max_words]; rises linearly from 0 below; falls to 0 at twice max_words above."""
    if n_words < min_words:
        return n_words / min_words
    if n_words <= max_words:
        return 1.0
    return max(0.0, 1.0 - (n_words - max_words) / max_words)


def distinct_ngram_ratio(text: str, n: int) -> float:
    """Distinct word n-grams / all word n-grams; 1 for text too short to repeat an n-gram."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0
