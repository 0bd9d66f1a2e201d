"""Built-in models and datasets, ensured once at a verb's entry (lock, build, cache); loaders only load.

`ensure_builtins(cfg)` is the door: every command (`train`, `pairs`, `eval`, `generate`, `merge`, each sweep job,
each quickstart stage) calls it with its config before anything loads, and it builds every `builtin:NAME` model
or dataset that config names and that is not in the cache yet. Later, `builtin:NAME` resolves to its cache folder
(`models/builtin.py`) and loads like any other folder; a built-in that was never built is a one-line error.

- A built-in model is built from its recipe: corpus → BPE tokenizer → GPT-2 init → pretraining on the offline
  loop; or, for a fine-tuned recipe, a packaged preset run on its built-in base (builtin:reviews-tiny-sft =
  sft/reviews-tiny). The result is a plain `save_pretrained` folder. The same recipe and seed give the same weights.
- A built-in dataset (`builtin:reviews-pairs`) is the output of its `pairs` preset (samples of the built-in SFT
  policy scored by the gold reward), cached under a fingerprint of the preset and the policy's recipe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from alignlab.config import Config, load_config
from alignlab.config.common import ModelConfig
from alignlab.data.reviews.corpus import pretrain_texts
from alignlab.data.tokenizer import train_bpe
from alignlab.models.builtin import (
    BUILTIN_DATASETS,
    BaseRecipe,
    FineTuneRecipe,
    built_dataset,
    built_model,
    cache_dir,
    dataset_dir,
    is_builtin,
    recipe,
)
from alignlab.models.gguf import ensure_converted, gguf_spec
from alignlab.pipelines.pairs import run_pairs
from alignlab.pipelines.sft import run_sft
from alignlab.runs.atomic import atomic_write_json, file_lock
from alignlab.runs.progress import console


def ensure_builtins(cfg: Config, models: tuple[str | None, ...] = (), datasets: tuple[str | None, ...] = ()) -> None:
    """Build every built-in model and dataset `cfg` (and the extra `models` / `datasets` specs) names, and convert
    the GGUF file it names (`models/gguf.py`)."""
    if gguf_spec(cfg.model):
        ensure_converted(cfg.model)
    ensure_specs(models=(cfg.model.name_or_path, cfg.model.tokenizer, cfg.rl.value_init, cfg.eval.reference,
                         cfg.eval.baseline, *models),
                 datasets=(cfg.data.dataset, cfg.eval.pairs, cfg.eval.sft_data, *datasets))


def ensure_specs(models: tuple[str | None, ...] = (), datasets: tuple[str | None, ...] = ()) -> None:
    """Build the built-ins among these model and dataset specs, convert the `.gguf` files among them (others, and
    None, are skipped)."""
    for spec in dict.fromkeys(s for s in models if s and (s.endswith(".gguf") or s.startswith("gguf:"))):
        ensure_converted(ModelConfig(name_or_path=spec))
    for spec in dict.fromkeys(s for s in models if s and is_builtin(s)):
        ensure_builtin(spec)
    for spec in dict.fromkeys(s for s in datasets if s in BUILTIN_DATASETS):
        ensure_dataset(spec)


DISTRIBUTED_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                   "ACCELERATE_USE_CPU", "ACCELERATE_DYNAMO_BACKEND")


def ensure_builtin(name: str, force: bool = False) -> Path:
    """The cached folder of `builtin:NAME`, building it first if needed (one builder at a time)."""
    dest = cache_dir(name)
    if built_model(dest) and not force:
        return dest
    with file_lock(dest.with_suffix(".lock")):
        if built_model(dest) and not force:
            return dest
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            _build_in_subprocess(name)  # a distributed process group must not run a nested trainer
        else:
            build_builtin(name, dest)
    return dest


def build_builtin(name: str, dest: Path) -> Path:
    key, r = recipe(name)
    console.print(f"building builtin:{key} (first use; cached in {dest})")
    staging = dest.with_name(f".{dest.name}.build")
    shutil.rmtree(staging, ignore_errors=True)
    if isinstance(r, FineTuneRecipe):
        ensure_builtin(r.base)
        cfg = load_config(r.preset, [f"model.name_or_path={r.base}", f"run_dir={staging / 'run'}",
                                     "logging.report_to=[]"])
        result = run_sft(cfg, command=f"base build {name}")
    else:
        init = _initial_model(r, staging / "init")
        result = run_sft(_pretrain_config(r, init, staging / "run"), command=f"base build {name}",
                         corpus_spec=r.corpus)
    final = staging / "run" / "final"
    atomic_write_json(final / "alignlab_builtin.json", {
        "name": name, "fingerprint": r.fingerprint(), "steps": result["steps"],
        "heldout_loss": result["eval"].get("loss"), "heldout_perplexity": result["eval"].get("perplexity"),
    })
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(final, dest)
    shutil.rmtree(staging, ignore_errors=True)
    console.print(f"builtin:{key} ready: held-out loss {result['eval'].get('loss', float('nan')):.3f}")
    return dest


def _initial_model(r: BaseRecipe, folder: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = train_bpe(pretrain_texts(r.corpus), r.vocab_size)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=r.n_positions, n_embd=r.n_embd, n_layer=r.n_layer,
                        n_head=r.n_head, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(r.seed)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _pretrain_config(r: BaseRecipe, init: Path, run_dir: Path) -> Config:
    return Config.model_validate({
        "name": "pretrain", "seed": r.seed, "run_dir": str(run_dir),
        "model": {"name_or_path": str(init), "device": "cpu", "dtype": "float32"},
        "data": {"dataset": "builtin:reviews-pretrain", "format": "text", "max_length": r.max_length,
                 "max_eval_samples": 200},
        "optimizer": {"name": "adamw", "lr": r.lr, "weight_decay": 0.01, "betas": [0.9, 0.98]},
        "scheduler": {"name": "cosine", "warmup_steps": max(1, r.steps // 20), "min_lr_ratio": 0.1},
        "train": {"batch_size": r.batch_size, "max_steps": r.steps, "eval_every": None, "save_every": None,
                  "log_every": 25, "eval_train_samples": 0},
        "logging": {"report_to": []},
    })


def _build_in_subprocess(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
    subprocess.run([sys.executable, "-m", "alignlab", "base", "build", "--name", name], check=True, env=env)


def ensure_dataset(name: str, force: bool = False) -> Path:
    """The cached folder of the built-in dataset `name`, building it (and the policy it samples) if needed."""
    dest = dataset_dir(name)
    if built_dataset(dest) and not force:
        return dest
    if force:
        shutil.rmtree(dest, ignore_errors=True)
    ensure_builtin(load_config(BUILTIN_DATASETS[name], []).model.name_or_path)
    with file_lock(dest.with_suffix(".lock")):
        if built_dataset(dest):
            return dest
        staging = dest.with_name(f".{dest.name}.build")
        shutil.rmtree(staging, ignore_errors=True)
        console.print(f"building {name} (first use; cached in {dest})")
        overrides = [f"run_dir={staging}", "logging.report_to=[]"]
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # `pairs` batches generation in one process: build it outside the distributed launch.
            env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
            subprocess.run([sys.executable, "-m", "alignlab", "pairs", "-c", BUILTIN_DATASETS[name], *overrides],
                           check=True, env=env)
        else:
            report = run_pairs(load_config(BUILTIN_DATASETS[name], overrides), command=f"build {name}")["report"]
            console.print(f"{name} ready: " + ", ".join(f"{split} {s['pairs']} pairs"
                                                         for split, s in report["splits"].items()))
        os.replace(staging, dest)
    return dest
