"""Load raw rows: the built-in corpus, a Hub dataset, or local json/jsonl/parquet/csv files."""

from __future__ import annotations

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


def load_splits(cfg: DataConfig, seed: int, spec: corpus.CorpusSpec | None = None) -> tuple[Dataset, Dataset | None]:
    """(train, held-out) datasets. A source without the held-out split gets `eval_fraction` carved out."""
    if cfg.dataset.startswith("builtin:"):
        spec = spec or corpus.CorpusSpec()
        train = builtin_split(cfg.dataset, "train", spec)
        held = builtin_split(cfg.dataset, cfg.eval_split, spec) if cfg.eval_split else None
    else:
        splits = _load_external(cfg)
        if cfg.train_split not in splits:
            raise DataError(f"dataset '{cfg.dataset}' has no split '{cfg.train_split}' "
                            f"(data.train_split); it has: {', '.join(splits)}")
        train = splits[cfg.train_split]
        held = splits.get(cfg.eval_split) if cfg.eval_split else None
        if cfg.eval_split and held is None and cfg.eval_fraction > 0:
            parts = train.train_test_split(test_size=cfg.eval_fraction, seed=seed)
            train, held = parts["train"], parts["test"]
    # Errors must name the row as it is in the source, whatever shuffling or capping happens later.
    train = _cap(_numbered(train).shuffle(seed=seed), cfg.max_train_samples)
    return train, _cap(_numbered(held), cfg.max_eval_samples) if held is not None else None


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
    if path.exists():
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in LOCAL_FORMATS)
        if not files or files[0].suffix not in LOCAL_FORMATS:
            raise DataError(f"'{path}': expected a {'/'.join(LOCAL_FORMATS)} file or a folder of them")
        by_split: dict[str, list[str]] = {}
        for p in files:
            by_split.setdefault(_split_name(p, cfg), []).append(str(p))
        return load_dataset(LOCAL_FORMATS[files[0].suffix], data_files=by_split)
    # A Hub dataset: the real loading code; needs network or a populated HF cache.
    return load_dataset(cfg.dataset, cfg.config_name)


def _split_name(p: Path, cfg: DataConfig) -> str:
    """`validation.jsonl` next to `train.jsonl` is the held-out split; a lone file is the training split."""
    stem = p.stem.lower()
    return stem if stem in ("train", "validation", "test", cfg.eval_split or "") else cfg.train_split


def _cap(ds: Dataset, n: int | None) -> Dataset:
    return ds.select(range(min(n, len(ds)))) if n else ds
