"""Local folders laid out as Hub dataset repos resolve their splits by name, as `datasets` does, and a held-out
split is never trained on (issue 21: a folder of train_prefs / test_prefs files used to train on all of them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from alignlab.config.data import DataConfig
from alignlab.data.sources import DataError, load_prompts, load_splits

SPLITS = {"train_prefs": 12, "test_prefs": 5, "train_gen": 7, "test_gen": 3}


def _rows(split: str, n: int) -> list[dict]:
    return [{"prompt": f"{split} prompt {i}", "chosen": " good.", "rejected": " bad."} for i in range(n)]


def _hub_repo(root: Path) -> Path:
    """The layout of HuggingFaceH4/ultrafeedback_binarized: README.md at the root, parquet shards under data/."""
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text("---\nlicense: mit\n---\n# a dataset card\n")
    for split, n in SPLITS.items():
        Dataset.from_list(_rows(split, n)).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def _prompts(ds) -> set[str]:
    return set(ds["prompt"])


def test_hub_repo_folder_resolves_each_split_by_name(tmp_path):
    repo = _hub_repo(tmp_path / "repo")
    train, held = load_splits(DataConfig(dataset=str(repo), train_split="train_prefs", eval_split="test_prefs"), 0)
    assert len(train) == 12 and len(held) == 5
    assert all(p.startswith("train_prefs") for p in train["prompt"])
    assert all(p.startswith("test_prefs") for p in held["prompt"])
    assert load_prompts(DataConfig(dataset=str(repo)), "test_gen") == [f"test_gen prompt {i}" for i in range(3)]


def test_files_named_after_their_split_are_that_split(tmp_path):
    folder = tmp_path / "jsonl"
    folder.mkdir()
    for split, n in SPLITS.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(split, n)))
    train, held = load_splits(DataConfig(dataset=str(folder), train_split="train_prefs", eval_split="test_prefs"), 0)
    assert len(train) == 12 and len(held) == 5 and not _prompts(train) & _prompts(held)


def test_synonym_names_follow_datasets(tmp_path):
    folder = tmp_path / "syn"
    folder.mkdir()
    for name, n in (("train", 10), ("dev", 4), ("test", 6)):
        Dataset.from_list(_rows(name, n)).to_json(str(folder / f"{name}.jsonl"))
    train, held = load_splits(DataConfig(dataset=str(folder)), 0)  # dev → validation, as datasets names it
    assert len(train) == 10 and len(held) == 4 and all(p.startswith("dev") for p in held["prompt"])


def test_a_missing_split_is_an_error_listing_the_splits_found(tmp_path):
    repo = _hub_repo(tmp_path / "repo")
    with pytest.raises(DataError, match=r"no split 'validation' \(data.eval_split\); it has: .*test_prefs"):
        load_splits(DataConfig(dataset=str(repo), train_split="train_prefs"), 0)
    with pytest.raises(DataError, match=r"no split 'train' \(data.train_split\); it has: .*train_prefs"):
        load_splits(DataConfig(dataset=str(repo), eval_split="test_prefs"), 0)


def test_a_lone_training_split_still_gets_its_held_out_fraction(tmp_path):
    folder = tmp_path / "lone"
    folder.mkdir()
    Dataset.from_list(_rows("x", 40)).to_json(str(folder / "pairs.jsonl"))
    train, held = load_splits(DataConfig(dataset=str(folder), eval_fraction=0.25), 0)
    assert len(train) == 30 and len(held) == 10 and not _prompts(train) & _prompts(held)


def test_an_empty_folder_and_mixed_formats_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .* data file"):
        load_splits(DataConfig(dataset=str(tmp_path / "empty")), 0)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Dataset.from_list(_rows("train", 4)).to_json(str(mixed / "train.jsonl"))
    Dataset.from_list(_rows("validation", 4)).to_csv(str(mixed / "validation.csv"))
    with pytest.raises(DataError, match="mix formats"):
        load_splits(DataConfig(dataset=str(mixed)), 0)
