"""Keys that moved (config/moved.py): old spellings fail in one line naming the new key; saved configs migrate."""

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from alignlab.config import ConfigError, load_config
from alignlab.config.loader import explain_config
from alignlab.config.moved import MOVED, REMOVED, migrate_override, migrate_record, migrate_tree
from alignlab.config.schema import Config


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_override_names_its_new_key(old):
    with pytest.raises(ConfigError) as exc:
        load_config(None, [f"{old}=3"])
    assert str(exc.value) == f"config key '{old}' has moved: use {MOVED[old]}"


def test_an_old_key_in_a_yaml_file_fails_too(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("rl:\n  eval_prompts: 8\n")
    with pytest.raises(ConfigError, match="'rl.eval_prompts' has moved: use eval.in_training_prompts"):
        load_config(f)
    with pytest.raises(ConfigError, match="generate -k"):
        load_config(None, ["generation.num_return_sequences=2"])


def test_every_new_key_exists_and_no_old_key_does():
    keys = {row[0] for row in explain_config()}
    assert set(MOVED.values()) <= keys
    assert not (set(MOVED) | set(REMOVED)) & keys


def test_a_saved_config_migrates_to_the_same_settings(tmp_path):
    saved = Config().model_dump(mode="json")
    saved["rl"] |= {"eval_prompts": 12, "eval_k": 3}
    saved["loss"] |= {"chunk_tokens": 256, "disable_dropout": False}
    saved["pairs"]["samples_per_prompt"] = 5
    saved["generation"]["num_return_sequences"] = 1
    for new in ("chunk_tokens", "disable_dropout"):
        saved["model"].pop(new)
    f = tmp_path / "config.yaml"
    f.write_text(yaml.safe_dump(saved))
    cfg = load_config(f, saved=True)
    assert (cfg.eval.in_training_prompts, cfg.eval.in_training_k) == (12, 3)
    assert (cfg.model.chunk_tokens, cfg.model.disable_dropout, cfg.pairs.k) == (256, False, 5)
    with pytest.raises(ConfigError):  # the same file given as a user's config
        load_config(f)


def test_saved_sweep_records_migrate():
    record = {"spec": {"cells": [{"overrides": ["warp.eval_prompts=32", "rl.k=4"]}],
                       "baseline_at": {"loss.chunk_tokens": 8}},
              "overrides": ["cells:rl.eval_prompts=8", "eval:eval.samples_per_prompt=4"]}
    assert migrate_record(record) == {
        "spec": {"cells": [{"overrides": ["eval.prompts=32", "rl.k=4"]}], "baseline_at": {"model.chunk_tokens": 8}},
        "overrides": ["cells:eval.in_training_prompts=8", "eval:eval.k=4"]}


@given(key=st.sampled_from([*MOVED, "rl.k", "eval.prompts", "seeds"]), stage=st.sampled_from(["", "cells:", "eval:"]),
       value=st.text(max_size=20))
def test_migrating_an_override_renames_only_an_old_key(key, stage, value):
    out = migrate_override(f"{stage}{key}={value}")
    assert out == f"{stage}{MOVED.get(key, key)}={value}"
    assert migrate_override(out) == out


def test_migrate_tree_leaves_a_current_config_alone():
    tree = Config().model_dump(mode="json")
    assert migrate_tree(yaml.safe_load(yaml.safe_dump(tree))) == tree


def test_in_training_prompts_default_depends_on_the_loop():
    e = Config().eval
    assert (e.held_out_prompts(online=False), e.held_out_prompts(online=True)) == (16, 64)
    e = load_config(None, ["eval.in_training_prompts=0"]).eval
    assert (e.held_out_prompts(online=False), e.held_out_prompts(online=True)) == (0, 0)


def test_a_saved_warp_run_keeps_its_own_evaluation_size():
    saved = {"eval": {"prompts": 64, "samples_per_prompt": 4}, "warp": {"eval_prompts": 128, "eval_k": 2}}
    assert migrate_tree(saved) == {"eval": {"prompts": 128, "k": 2}, "warp": {}}
