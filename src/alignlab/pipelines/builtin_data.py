"""Built-in datasets made by running a packaged preset, cached like the built-in models.

`builtin:reviews-pairs` is the output of `alignlab pairs -c pairs/reviews-tiny` (samples of the built-in SFT
policy scored by the gold reward): the preference data of the DPO presets. It is built on first use into
`$ALIGNLAB_HOME/datasets/reviews-pairs-<fingerprint>/`, where the fingerprint covers the preset text and the
recipe of the policy it samples, so a changed recipe builds a new dataset instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alignlab.config import load_config
from alignlab.config.presets import resolve_preset
from alignlab.config.schema import DataConfig
from alignlab.models.builtin import alignlab_home, recipe
from alignlab.pipelines.base_model import DISTRIBUTED_ENV, build_lock
from alignlab.training.progress import console

BUILTIN_PAIR_DATASETS = {"builtin:reviews-pairs": "pairs/reviews-tiny"}
"""Built-in dataset → the `pairs` preset that makes it."""


def dataset_dir(name: str) -> Path:
    preset = BUILTIN_PAIR_DATASETS[name]
    cfg = load_config(preset, [])
    _, model_recipe = recipe(cfg.model.name_or_path)
    payload = resolve_preset(preset).read_text() + model_recipe.fingerprint()
    return alignlab_home() / "datasets" / f"{name.removeprefix('builtin:')}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def resolve_data(cfg: DataConfig) -> DataConfig:
    """A built-in pairs dataset → its cached folder (built on first use); anything else unchanged."""
    if cfg.dataset not in BUILTIN_PAIR_DATASETS:
        return cfg
    return cfg.model_copy(update={"dataset": str(ensure_dataset(cfg.dataset))})


def ensure_dataset(name: str) -> Path:
    dest = dataset_dir(name)
    if (dest / "dataset" / "dataset_dict.json").exists():
        return dest
    with build_lock(dest.with_suffix(".lock")):
        if (dest / "dataset" / "dataset_dict.json").exists():
            return dest
        staging = dest.with_name(f".{dest.name}.build")
        shutil.rmtree(staging, ignore_errors=True)
        console.print(f"building {name} (first use; cached in {dest})")
        overrides = [f"run_dir={staging}", "logging.report_to=[]"]
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # `pairs` batches generation in one process: build it outside the distributed launch.
            env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
            subprocess.run([sys.executable, "-m", "alignlab", "pairs", "-c", BUILTIN_PAIR_DATASETS[name], *overrides],
                           check=True, env=env)
        else:
            from alignlab.pipelines.pairs import run_pairs

            report = run_pairs(load_config(BUILTIN_PAIR_DATASETS[name], overrides), command=f"build {name}")["report"]
            console.print(f"{name} ready: " + ", ".join(f"{split} {s['pairs']} pairs"
                                                         for split, s in report["splits"].items()))
        os.replace(staging, dest)
    return dest
