"""`builtin:reviews-prefs`: preference pairs of the built-in task, labelled by the gold judge.

Each prompt gets `PREF_REPLIES` corpus continuations of random sentiment; the gold judge (`judge.py`) scores the
replies and every non-tied pair becomes a row (the higher score chosen). This is the training data of the proxy
reward models (`configs/rm/reviews-tiny.yaml`): a reward model learns gold from a finite sample of its labels
(`data.max_train_samples` sets how many), so proxy and gold differ by construction, as in Gao et al. (2022).
Validation rows come from held-out titles.
"""

from __future__ import annotations

import random

from alignlab.data.pairing import make_pairs
from alignlab.data.reviews.corpus import CorpusSpec, continuation, pick_sentiment, prompt_titles
from alignlab.data.reviews.judge import judge_scores

PREF_REPLIES = 4


def preference_rows(spec: CorpusSpec, split: str) -> list[dict]:
    rng = random.Random(f"{spec.seed}-prefs-{split}")
    rows = []
    for prompt, title in prompt_titles(spec, split).items():
        replies = [" " + continuation(rng, pick_sentiment(rng), title) for _ in range(PREF_REPLIES)]
        scores = judge_scores([prompt] * len(replies), replies)
        pairs, _ = make_pairs(scores, "all")
        rows += [{"prompt": prompt, "chosen": replies[c], "rejected": replies[r],
                  "chosen_score": scores[c], "rejected_score": scores[r]} for c, r in pairs]
    return rows
