"""Load raw rows: the built-in corpus, a Hub dataset, or local json/jsonl/parquet/csv files."""

from __future__ import annotations

import math
import re
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from alignlab.config.data import DataConfig
from alignlab.data.reviews import corpus
from alignlab.data.reviews.preferences import preference_rows

BUILTIN_DATASETS = {
    "builtin:reviews": corpus.sft_rows,
    "builtin:reviews-chat": corpus.chat_rows,
    "builtin:reviews-prefs": preference_rows,
    "builtin:reviews-pretrain": None,  # text rows, see builtin_split
}
LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


class DataError(ValueError):
    """Bad input data; the message names the row index and field."""


def builtin_split(name: str, split: str, spec: corpus.CorpusSpec) -> Dataset:
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown built-in dataset '{name}'; available: {', '.join(BUILTIN_DATASETS)}")
    if name == "builtin:reviews-pretrain":
        texts = corpus.pretrain_texts(spec) if split == "train" else [
            f"{r['prompt']}{r['response']}" for r in corpus.sft_rows(spec, split)]
        return Dataset.from_dict({"text": texts})
    return Dataset.from_list(BUILTIN_DATASETS[name](spec, split))


class Splits(tuple):
    """(train, held-out) as `load_splits` returns them, with `duplicates`: the counts of `duplicate_counts`."""

    duplicates: dict


def load_splits(cfg: DataConfig, seed: int, spec: corpus.CorpusSpec | None = None, report: bool = True) -> Splits:
    """(train, held-out) datasets. A source with only the training split gets `eval_fraction` carved out of it; a
    source with several splits must name its held-out split (`data.eval_split`), and it is never trained on.
    Every row keeps its index in the source (`__row__`) for error messages. Repeated training rows and held-out
    rows that are also training rows are counted (`.duplicates`) and reported; `data.drop_heldout_overlap`
    removes the latter from the held-out split. `report=False` keeps quiet (a probe of the data's layout)."""
    if cfg.dataset.startswith("builtin:"):
        spec = spec or corpus.CorpusSpec()
        train = builtin_split(cfg.dataset, "train", spec)
        held = builtin_split(cfg.dataset, cfg.eval_split, spec) if cfg.eval_split else None
    else:
        splits = _load_external(cfg)
        if cfg.train_split not in splits:
            raise DataError(f"dataset '{cfg.dataset}' has no split '{cfg.train_split}' "
                            f"(data.train_split); it has: {', '.join(splits)}")
        # Errors must name the row as it is in the source, whatever splitting, shuffling or capping happens later.
        train = _numbered(splits[cfg.train_split])
        held = _numbered(splits[cfg.eval_split]) if cfg.eval_split in splits else None
        if cfg.eval_split and held is None:
            if len(splits) > 1:
                raise DataError(f"dataset '{cfg.dataset}' has no split '{cfg.eval_split}' (data.eval_split); it has: "
                                f"{', '.join(splits)} (name the held-out one, or data.eval_split=null)")
            if cfg.eval_fraction > 0:
                if len(train) - math.ceil(cfg.eval_fraction * len(train)) < 1:
                    raise DataError(f"dataset '{cfg.dataset}' has {len(train)} row(s): too few to hold out "
                                    f"data.eval_fraction={cfg.eval_fraction} and train on the rest (add rows, or "
                                    "set data.eval_split=null)")
                parts = train.train_test_split(test_size=cfg.eval_fraction, seed=seed)
                train, held = parts["train"], parts["test"]
    train, held = _numbered(train), _numbered(held) if held is not None else None
    counted = report or cfg.drop_heldout_overlap  # a quiet probe skips the pass over every row
    duplicates = duplicate_counts(train, held) if counted else {}
    if held is not None and cfg.drop_heldout_overlap and duplicates["heldout_in_train"]:
        seen = {_row_key(r) for r in train}
        held = held.filter(lambda r: _row_key(r) not in seen)
        duplicates["heldout_dropped"] = duplicates["heldout_in_train"]
    if report:
        _report_duplicates(cfg, duplicates)
    out = Splits((_cap(train.shuffle(seed=seed), cfg.max_train_samples),
                  _cap(held, cfg.max_eval_samples) if held is not None else None))
    out.duplicates = duplicates
    return out


def _row_key(row: dict) -> str:
    import json

    return json.dumps({k: v for k, v in row.items() if k != ROW_INDEX}, sort_keys=True, default=str)


def duplicate_counts(train: Dataset, held: Dataset | None) -> dict:
    """Training rows that repeat an earlier training row, and held-out rows equal to some training row (same
    content in every field): a held-out score on rows the model trained on is not a held-out score."""
    seen: set[str] = set()
    repeats = 0
    for row in train:
        key = _row_key(row)
        repeats += key in seen
        seen.add(key)
    overlap = sum(_row_key(r) in seen for r in held) if held is not None else 0
    return {"train_duplicates": repeats, "heldout_in_train": overlap, "heldout_dropped": 0}


def _report_duplicates(cfg: DataConfig, d: dict) -> None:
    from alignlab.runs.progress import console

    if d["train_duplicates"]:
        console.print(f"[yellow]data:[/yellow] {d['train_duplicates']} training row(s) of {cfg.dataset} repeat an "
                      "earlier row (kept: they count twice in training)", highlight=False)
    if d["heldout_in_train"]:
        what = ("removed from the held-out split (data.drop_heldout_overlap)" if cfg.drop_heldout_overlap else
                "kept; data.drop_heldout_overlap=true removes them")
        console.print(f"[yellow]data:[/yellow] {d['heldout_in_train']} held-out row(s) of {cfg.dataset} are also "
                      f"training rows ({what})", highlight=False)


ROW_INDEX = "__row__"


def _numbered(ds: Dataset) -> Dataset:
    return ds if ROW_INDEX in ds.column_names else ds.add_column(ROW_INDEX, list(range(len(ds))))


def load_prompts(cfg: DataConfig, split: str) -> list[str]:
    """The distinct prompts of one split, in dataset order (what `alignlab pairs` samples from)."""
    if cfg.dataset.startswith("builtin:"):
        rows = builtin_split(cfg.dataset, split, corpus.CorpusSpec())
    else:
        splits = _load_external(cfg)
        if split not in splits:
            raise DataError(f"dataset '{cfg.dataset}' has no split '{split}' (data.train_split, data.eval_split or "
                            f"pairs.splits); it has: {', '.join(splits)}")
        rows = splits[split]
    if cfg.prompt_field not in rows.column_names:
        raise DataError(f"dataset '{cfg.dataset}' split '{split}' has no field '{cfg.prompt_field}' "
                        f"(data.prompt_field); columns: {', '.join(rows.column_names)}")
    prompts: dict[str, None] = {}
    for i, p in enumerate(rows[cfg.prompt_field]):
        if not isinstance(p, str) or not p.strip():
            raise DataError(f"row {i}: field '{cfg.prompt_field}' must be a non-empty string")
        prompts.setdefault(p, None)
    return list(prompts)


def _load_external(cfg: DataConfig) -> DatasetDict:
    path = Path(cfg.dataset)
    if (path / "dataset" / "dataset_dict.json").exists():
        path = path / "dataset"  # an `alignlab pairs` run directory stands for the dataset it wrote
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        try:
            loaded = load_from_disk(str(path))  # a `save_to_disk` folder (what `alignlab pairs` writes)
        except IndexError:  # `datasets` cannot read back a split saved with no row
            raise DataError(f"'{path}' holds a split with no row (for an `alignlab pairs` run: no pair passed "
                            f"the filters; its pairs_report.json counts why)") from None
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict({cfg.train_split: loaded})
    if path.is_file():
        if path.suffix not in LOCAL_FORMATS:
            raise DataError(f"'{path}': expected a {'/'.join(LOCAL_FORMATS)} file or a folder of them")
        return _load_files(LOCAL_FORMATS[path.suffix], {cfg.train_split: [str(path)]})
    if path.is_dir():
        by_split = local_split_files(path, [s for s in (cfg.train_split, cfg.eval_split) if s])
        formats = {LOCAL_FORMATS[Path(f).suffix] for files in by_split.values() for f in files}
        if len(formats) > 1:
            raise DataError(f"'{path}': its data files mix formats ({', '.join(sorted(formats))}); keep one")
        return _load_files(formats.pop(), by_split)
    # A Hub dataset: the real loading code; needs network or a populated HF cache.
    return load_dataset(cfg.dataset, cfg.config_name)


def _load_files(fmt: str, by_split: dict[str, list[str]]) -> DatasetDict:
    """Local data files through `datasets`, each checked first so that a bad one is named in one line: empty,
    not UTF-8 (json and csv: the line), a JSON line that does not parse (the line)."""
    for files in by_split.values():
        for f in files:
            check_data_file(Path(f), fmt)
    try:
        return load_dataset(fmt, data_files=by_split)
    except Exception as exc:  # datasets wraps the reader's own error; its first line names the cause
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        files = ", ".join(f for fs in by_split.values() for f in fs)
        raise DataError(f"{files}: cannot be read as {fmt} ({type(cause).__name__}: {first[:300]})") from None


def check_data_file(path: Path, fmt: str) -> None:
    """One line naming the file (and line) for an empty file, bytes that are not UTF-8, or a broken JSON line."""
    import json

    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"'{path}' is empty")
    if fmt == "parquet":
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"'{path}' line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
                        "save the file as UTF-8") from None
    if fmt != "json":
        return
    stripped = text.lstrip()
    if stripped.startswith("["):  # one JSON document (an array of rows)
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"'{path}' line {exc.lineno}: not valid JSON ({exc.msg})") from None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            if number == 1 and stripped.startswith("{"):
                try:  # a single JSON object spread over lines (columns of lists)
                    json.loads(text)
                    return
                except json.JSONDecodeError:
                    pass
            raise DataError(f"'{path}' line {number}: not a valid JSON line ({exc.msg}; a torn or hand-edited "
                            "line?)") from None


SHARD = re.compile(r"^(?P<split>\w+?)(-\d{5}-of-\d{5})?$")
"""`<split>.jsonl` or `<split>-00000-of-00003.parquet`: a data file named by its split alone."""


def local_split_files(folder: Path, wanted: list[str]) -> dict[str, list[str]]:
    """Data files of a local folder by split, as `datasets.load_dataset(folder)` resolves them: a Hub repo layout
    (`data/<split>-NNNNN-of-NNNNN.parquet`, any split name), `train` / `validation` / `test` (and their synonyms
    `dev`, `eval`, ...) in the file names, else every file is `train`. When the splits asked for (`wanted`) are not
    all found that way but files are named exactly after them (`train_prefs.jsonl`, `test_prefs.jsonl`), each such
    file name is its split. A file is in one split only, so a held-out split is never trained on."""
    from datasets.data_files import DataFilesDict, get_data_patterns

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LOCAL_FORMATS
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise DataError(f"'{folder}': no {'/'.join(LOCAL_FORMATS)} data file in it or below it")
    try:
        found = DataFilesDict.from_patterns(get_data_patterns(str(folder)), base_path=str(folder))
        layout = {str(split): [str(f) for f in fs if Path(f).suffix in LOCAL_FORMATS] for split, fs in found.items()}
    except FileNotFoundError:  # no pattern matched a file: the exact-name rule below decides
        layout = {}
    layout = {split: fs for split, fs in layout.items() if fs}
    by_name: dict[str, list[str]] = {}
    for p in files:
        m = SHARD.match(p.name[: -len(p.suffix)])
        if m:
            by_name.setdefault(m["split"], []).append(str(p))
    if not all(w in layout for w in wanted) and all(w in by_name for w in wanted):
        layout = by_name
    return layout or {"train": [str(p) for p in files]}


def _cap(ds: Dataset, n: int | None) -> Dataset:
    return ds.select(range(min(n, len(ds)))) if n else ds
