"""`alignlab quickstart`: base model → SFT → samples on held-out prompts → summary."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from alignlab.config import load_config
from alignlab.pipelines.generate import builtin_prompts, sample
from alignlab.pipelines.sft import run_sft
from alignlab.runs.atomic import atomic_write_json


def quickstart_config(overrides: list[str]):
    """The packaged `quickstart` preset, then the user's overrides."""
    return load_config("quickstart", overrides)


def run_quickstart(overrides: list[str], n_prompts: int = 16) -> dict:
    t0 = time.time()
    cfg = quickstart_config(overrides)
    prompts = builtin_prompts("test", n_prompts, cfg.seed)
    before = sample(cfg.model, prompts, cfg.generation, cfg.seed, progress=cfg.logging.progress)
    result = run_sft(cfg, command="alignlab quickstart " + " ".join(overrides))
    sft_model = cfg.model.model_copy(update={"name_or_path": result["run_dir"]})
    after = sample(sft_model, prompts, cfg.generation, cfg.seed, progress=cfg.logging.progress)
    summary = {
        "run_dir": result["run_dir"], "steps": result["steps"],
        "heldout_loss_start": _first_eval(result["run_dir"]), "heldout_loss_end": result["eval"].get("loss"),
        "vader_base": statistics.fmean(r["vader"] for r in before),
        "vader_sft": statistics.fmean(r["vader"] for r in after),
        "samples": after[:4], "seconds": round(time.time() - t0, 1),
    }
    atomic_write_json(Path(result["run_dir"]) / "quickstart.json", summary)
    return summary


def _first_eval(run_dir: str) -> float | None:
    from alignlab.runs.metrics import read_metrics

    evals = read_metrics(run_dir, "eval")
    return evals[0]["loss"] if evals else None
