"""One chat setting for every stage (`data.chat`): resolved once per run, recorded in config.yaml, inherited by the
next stage and by `alignlab eval`, which warns when told to evaluate otherwise (issue 21: a chat-trained run was
evaluated on raw prompts, silently)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import FAST, invoke_cli, run_cli
from tests.smoke.test_cli_dpo import DPO_FAST
from tests.smoke.test_cli_eval import EVAL_FAST

from alignlab.config import ConfigError, load_config


def _chat(run: Path) -> bool | None:
    return yaml.safe_load((run / "config.yaml").read_text())["data"]["chat"]


@pytest.fixture(scope="module")
def chat_sft(alignlab_home, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("chat") / "sft"
    invoke_cli("train", "sft", "-c", "sft/reviews-chat", *FAST, "train.max_steps=2", "eval.in_training_prompts=0",
               f"run_dir={run}")
    return run


def test_message_data_records_chat_on_and_the_next_stage_inherits_it(chat_sft, tmp_path):
    assert _chat(chat_sft) is True
    invoke_cli("train", "dpo", *DPO_FAST, f"model.name_or_path={chat_sft}", "train.max_steps=1",
               "eval.in_training_prompts=0", f"run_dir={tmp_path / 'dpo'}")
    assert _chat(tmp_path / "dpo") is True  # prompt/response pairs, rendered as the SFT run was trained
    invoke_cli("train", "dpo", *DPO_FAST, "train.max_steps=1", "eval.in_training_prompts=0",
               f"run_dir={tmp_path / 'plain'}")
    assert _chat(tmp_path / "plain") is False  # a plain base and plain data: no template


def test_eval_uses_the_runs_chat_setting_and_warns_when_overridden(chat_sft, tmp_path):
    invoke_cli("eval", str(chat_sft), *EVAL_FAST, "data.dataset=builtin:reviews", "-o", str(tmp_path / "as-trained"))
    assert json.loads((tmp_path / "as-trained" / "eval.json").read_text())["chat"] is True
    proc = run_cli("eval", str(chat_sft), *EVAL_FAST, "data.dataset=builtin:reviews", "data.chat=false",
                   "-o", str(tmp_path / "raw"))
    assert "warning: evaluating with data.chat=false" in proc.stderr
    assert json.loads((tmp_path / "raw" / "eval.json").read_text())["chat"] is False


def test_old_chat_keys_point_to_data_chat():
    for old in ("rl.chat=true", "pairs.chat=true"):
        with pytest.raises(ConfigError, match="use data.chat"):
            load_config(None, [old])
