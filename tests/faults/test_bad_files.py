"""Any bytes in a data file: loaded, or refused in one line that names the file (and line); never a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignlab.config.data import DataConfig
from alignlab.data.sources import DataError, load_splits

ROW = st.dictionaries(st.sampled_from(["prompt", "response", "chosen", "rejected"]),
                      st.one_of(st.text(max_size=10), st.integers(), st.none()), min_size=1, max_size=3)
LINE = st.one_of(ROW.map(json.dumps), ROW.map(lambda r: json.dumps(r)[: max(1, len(json.dumps(r)) // 2)]),
                 st.text(max_size=15), st.just(""))
CONTENT = st.one_of(st.lists(LINE, max_size=5).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")),
                    st.binary(max_size=40), st.lists(LINE, max_size=3).map(lambda ls: ("\n".join(ls)).encode() + b"\xff\xfe"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=CONTENT, suffix=st.sampled_from([".jsonl", ".json", ".csv"]))
def test_any_data_file_loads_or_is_refused_in_one_line(tmp_path_factory, monkeypatch, content, suffix):
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(folder / "cache"))
    path = folder / f"rows{suffix}"
    path.write_bytes(content)
    try:
        load_splits(DataConfig(dataset=str(path)), seed=0, report=False)
    except DataError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message.strip(), message
