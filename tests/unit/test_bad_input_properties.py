"""Property tests: any `key=value` override and any data row either works or is refused with a one-line
ConfigError / DataError, never another exception; what is accepted is sane (finite numbers, a safe run name,
a seed in range)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignlab.config import Config, ConfigError, load_config
from alignlab.config.common import MAX_SEED, SAFE_NAME
from alignlab.config.data import DataConfig
from alignlab.config.loader import flat_config
from alignlab.data.preference import read_pairs
from alignlab.data.sft import tokenize_rows
from alignlab.data.sources import DataError

KEYS = sorted(flat_config(Config()))

NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["inf", "-inf", "nan", "1e309", "-0", "1e-400", "0x10", "1_000"]))
SCALARS = st.one_of(NUMBERS, st.booleans(), st.just("null"), st.just(""),
                    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                    st.sampled_from(["../../etc", "/abs", "a/b", ".", "..", "x y", "builtin:nope", "[]", "{}", "[1,",
                                     "[2, 3]", "[0.9, 1.5]", "{a: 1}", "LBFGS", "SparseAdam", "all-linear"]))
VALUES = st.one_of(SCALARS, st.lists(NUMBERS, max_size=3).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]"))
KEY = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + ".x"),
                st.text(alphabet="abcdefgh._", min_size=1, max_size=12))


def _floats(cfg: Config) -> list[float]:
    return [v for v in flat_config(cfg).values() if isinstance(v, float)]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEY, value=VALUES, second=st.one_of(st.none(), st.tuples(KEY, VALUES)))
def test_any_override_is_accepted_sanely_or_refused_in_one_line(key, value, second):
    overrides = [f"{key}={value}"] + ([f"{second[0]}={second[1]}"] if second else [])
    try:
        cfg = load_config(None, overrides)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip() and str(exc).strip()
        return
    assert all(math.isfinite(v) for v in _floats(cfg))
    assert SAFE_NAME.match(cfg.name) and 0 <= cfg.seed <= MAX_SEED
    assert all(0 <= b < 1 for b in cfg.optimizer.betas)


class Rows(list):
    """The part of a `datasets.Dataset` the row readers use: iteration and the column names."""

    @property
    def column_names(self) -> list[str]:
        return sorted({k for row in self for k in row})


MESSAGE = st.dictionaries(st.sampled_from(["role", "content", "name"]),
                          st.one_of(st.sampled_from(["user", "assistant", "system"]), st.text(max_size=8),
                                    st.integers(), st.none()), max_size=3)
FIELD = st.one_of(st.none(), st.integers(), st.floats(), st.booleans(), st.text(max_size=20),
                  st.lists(MESSAGE, max_size=3), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _rows(fields: list[str]):
    return st.lists(st.dictionaries(st.sampled_from(fields), FIELD, min_size=1), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def tok():
    from alignlab.data.reviews.corpus import CorpusSpec, pretrain_texts
    from alignlab.data.tokenizer import train_bpe

    return train_bpe(pretrain_texts(CorpusSpec(pretrain_docs=200)), 300)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_rows(["prompt", "response", "messages", "text"]))
def test_any_sft_row_is_encoded_or_refused_with_its_row(tok, rows):
    try:
        tokenize_rows(Rows(rows), tok, DataConfig(max_length=32))
    except DataError as exc:  # a row's fault names the row; a layout's fault names the columns
        assert str(exc).startswith(("row ", "cannot tell the data format")) and "\n" not in str(exc)


def test_a_conversation_that_opens_with_the_assistant_trains_on_that_turn(tok):
    # found by the property above: transformers refuses to render the empty prefix before the first turn
    rows = Rows([{"messages": [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"}]}])
    (example,), _ = tokenize_rows(rows, tok, DataConfig(max_length=64))
    assert example["labels"][0] != -100 and example["labels"][-1] == -100  # the assistant turn, not the user's


@settings(max_examples=500, deadline=None)
@given(rows=_rows(["prompt", "chosen", "rejected", "score_chosen", "score_rejected"]))
def test_any_preference_row_is_read_or_refused_with_its_row(rows):
    try:
        pairs = read_pairs(Rows(rows), DataConfig())
    except DataError as exc:
        assert str(exc).startswith("row ") and "\n" not in str(exc)
        return
    assert len(pairs) == len(rows)
