"""Recipes of the built-in models and datasets, and where each is cached.

A built-in model is addressed as `builtin:NAME`. It is built once, at the entry of the command that first names it
(`alignlab.pipelines.builtins.ensure_builtins`), into `$ALIGNLAB_HOME/models/NAME-<fingerprint>/` with
`save_pretrained`, and from then on it loads through exactly the same `from_pretrained` path as a Hub model. A
built-in dataset (`BUILTIN_DATASETS`) is the output of a packaged `pairs` preset, cached the same way under
`$ALIGNLAB_HOME/datasets/`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alignlab.config import ConfigError, load_config
from alignlab.config.presets import resolve_preset
from alignlab.data.reviews.corpus import CorpusSpec

PREFIX = "builtin:"


@dataclass(frozen=True)
class BaseRecipe:
    """Everything that determines the weights of a built-in model (hashed into its cache folder name)."""

    vocab_size: int
    n_layer: int
    n_embd: int
    n_head: int
    n_positions: int
    steps: int
    batch_size: int
    lr: float
    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    seed: int = 0
    max_length: int = 128

    def fingerprint(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if k != "corpus"}
        payload["corpus"] = self.corpus.fingerprint()
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


RECIPES: dict[str, BaseRecipe] = {
    # The lab's default policy: pretrained in well under a minute on 2 cores.
    "reviews-tiny": BaseRecipe(vocab_size=2048, n_layer=4, n_embd=128, n_head=4, n_positions=256,
                               steps=400, batch_size=32, lr=3e-3),
    # The same model pretrained on a web mix: 70% of its documents carry one web fault (off-topic chatter, a pasted
    # sentence, a cut-off page, run-together reviews; `corpus.web_document`), so SFT on clean replies moves it.
    "reviews-web": BaseRecipe(vocab_size=2048, n_layer=4, n_embd=128, n_head=4, n_positions=256,
                              steps=400, batch_size=32, lr=3e-3, corpus=CorpusSpec(web_noise=0.7)),
    # For tests: seconds to build, same code path.
    "reviews-micro": BaseRecipe(vocab_size=512, n_layer=1, n_embd=32, n_head=2, n_positions=256,
                                steps=20, batch_size=16, lr=5e-3,
                                corpus=CorpusSpec(train_prompts=200, eval_prompts=40, chat_rows=120,
                                                  pretrain_docs=800)),
}


@dataclass(frozen=True)
class FineTuneRecipe:
    """A built-in model made by running a packaged preset on a built-in base (e.g. the task's SFT policy)."""

    preset: str
    base: str

    def fingerprint(self) -> str:
        payload = resolve_preset(self.preset).read_text() + RECIPES[self.base.removeprefix(PREFIX)].fingerprint()
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


FINETUNED: dict[str, FineTuneRecipe] = {
    # The SFT policy of the built-in task: the starting point of pairs, DPO and RL presets.
    "reviews-tiny-sft": FineTuneRecipe(preset="sft/reviews-tiny", base="builtin:reviews-tiny"),
    "reviews-web-sft": FineTuneRecipe(preset="sft/reviews-web", base="builtin:reviews-web"),
}
ALL_RECIPES: dict[str, BaseRecipe | FineTuneRecipe] = {**RECIPES, **FINETUNED}


def alignlab_home() -> Path:
    return Path(os.environ.get("ALIGNLAB_HOME", Path.home() / ".cache" / "alignlab")).expanduser()


def is_builtin(name: str) -> bool:
    return name.startswith(PREFIX)


def recipe(name: str) -> tuple[str, BaseRecipe | FineTuneRecipe]:
    key = name.removeprefix(PREFIX)
    if key not in ALL_RECIPES:
        raise ConfigError(f"unknown built-in model '{name}'; available: "
                         + ", ".join(PREFIX + k for k in ALL_RECIPES))
    return key, ALL_RECIPES[key]


def cache_dir(name: str) -> Path:
    key, r = recipe(name)
    return alignlab_home() / "models" / f"{key}-{r.fingerprint()}"


BUILTIN_DATASETS = {"builtin:reviews-pairs": "pairs/reviews-tiny"}
"""Built-in dataset → the `pairs` preset that makes it (the preference data of the DPO presets)."""


def dataset_dir(name: str) -> Path:
    """Cache folder of a built-in dataset: the fingerprint covers its preset's text and the recipe of the policy
    it samples, so a changed recipe builds a new dataset instead of reusing a stale one."""
    preset = BUILTIN_DATASETS[name]
    _, model_recipe = recipe(load_config(preset, []).model.name_or_path)
    payload = resolve_preset(preset).read_text() + model_recipe.fingerprint()
    digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
    return alignlab_home() / "datasets" / f"{name.removeprefix(PREFIX)}-{digest}"


def built_dataset(folder: Path) -> bool:
    return (folder / "dataset" / "dataset_dict.json").exists()


def built_model(folder: Path) -> bool:
    return (folder / "config.json").exists()


def builtin_path(name: str) -> Path:
    """The cache folder of a built-in model or dataset that has been built; a one-line error when it has not."""
    built = name in BUILTIN_DATASETS
    folder = dataset_dir(name) if built else cache_dir(name)
    if not (built_dataset(folder) if built else built_model(folder)):
        raise FileNotFoundError(f"{name} is not built yet: every alignlab command builds the built-ins its config "
                                f"names when it starts; or build it with `alignlab base build --name {name}`")
    return folder
