"""Acceptance check of the DPO issue on the real default model: the preset (on builtin:reviews-pairs, built on
first use) raises the gold reward of samples on held-out prompts above the SFT policy's."""

from __future__ import annotations

import json
import re

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
QUIET = ["logging.progress=false", "logging.report_to=[]"]
SAMPLE = ["--n-prompts", "100", "-q", "-k", "2", "generation.max_new_tokens=64", *QUIET]


def _mean_gold(model: str) -> float:
    """Mean gold (the task's judge) of `alignlab generate` samples on 100 held-out test prompts × 2."""
    out = run_cli("generate", "-m", model, *SAMPLE, timeout=600)
    return float(re.search(r"mean ([+-][\d.]+)", out.stderr + out.stdout).group(1))


def test_dpo_preset_beats_sft_on_gold_reward(tmp_path):
    run = tmp_path / "dpo"
    run_cli("train", "dpo", "-c", "dpo/reviews-tiny", *QUIET, f"run_dir={run}", timeout=1800)
    evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in evals if r["split"] == "eval"][-1]
    assert final["accuracy"] >= 0.75 and final["margin"] > 0, final  # held-out pairs
    sft, dpo = _mean_gold("builtin:reviews-tiny-sft"), _mean_gold(str(run))
    assert dpo > sft + 0.3, (sft, dpo)
