"""The one registry of methods: every verb a run, a sweep file or WARP can name, and what runs it.

A method is an entry here: its name, its kind, the function that runs it, its help text and the config sections
it reads. The CLI's `train` commands, the sweep file's `verb`, `warp.algorithm` and the docs' method table all read
`METHODS`; nothing else spells a method's name.

Kinds:
- `offline`: batch → loss → step (`training/offline.py`); the runner is a pipeline `run_x(cfg, command, resume)`.
- `online`: rollout → score → advantage → update (`training/online.py`); `algorithm` is the loop's plug-in (an
  `OnlineAlgorithm`) and every online method shares the online pipeline as its runner.
- `composite`: runs other methods and combines them (WARP: online runs merged by SLERP and LITI).
- `data`: builds a dataset (preference pairs) that later stages train on.
- `evaluation`: evaluates a model without training (a sweep cell's starting point).
- `inference`: trains nothing, but selects among a model's samples (best-of-n) and writes its own run folder; in a
  sweep it runs like a training verb and the common evaluation evaluates the model it sampled from.

Runners and algorithms are named as `module:attribute` and imported only when used, so this module imports nothing
from alignlab: the config, the sweep spec and the CLI read it without loading a model library.

Plug-ins: `ALIGNLAB_PLUGINS=pkg.mod[,pkg.other]` imports those modules when the registry is first imported (in the
CLI and in every sweep worker process); a plug-in module calls `register(Method(...))` and, for a new DPO-family
loss, `alignlab.losses.preference.register_preference_loss`. docs/architecture.md, "Adding a method".
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import partial
from typing import Literal

Kind = Literal["offline", "online", "composite", "data", "evaluation", "inference"]
TRAINING_KINDS = ("offline", "online", "composite")
"""Kinds that `alignlab train NAME` runs."""
PLUGINS_ENV = "ALIGNLAB_PLUGINS"


@dataclass(frozen=True)
class Method:
    name: str
    """The verb: `alignlab train NAME`, a sweep file's `verb: NAME`, `warp.algorithm=NAME` (online methods)."""
    kind: Kind
    """offline, online, composite, data, evaluation or inference (see the module docstring)."""
    help: str
    """One line for `alignlab train --help` and the docs."""
    sections: tuple[str, ...]
    """The config sections it reads beyond the shared ones (model, data, optimizer, train, ...)."""
    runner: str | None = None
    """`module:function` with the signature `run(cfg, command="", resume=None) -> dict`; online methods take the
    online pipeline's and get their name bound. None: the sweep runs it itself (`evaluation`)."""
    algorithm: str | None = None
    """Online methods: `module:Class` of the loop's plug-in, built as `Class(cfg.rl)`."""
    check: str | None = None
    """`module:function(cfg)` raising a one-line ConfigError for settings the schema cannot judge alone; the door
    runs it before any built-in model is built or loaded (online methods get their name bound)."""

    def run_function(self):
        """The callable `run(cfg, command="", resume=None) -> dict` that runs this method."""
        if self.runner is None:
            raise ValueError(f"{self.name} ({self.kind}) has no runner of its own")
        fn = _load(self.runner)
        return partial(fn, name=self.name) if self.kind == "online" else fn

    def check_function(self):
        """The callable `check(cfg)` (a no-op when the method declares none)."""
        if self.check is None:
            return lambda cfg: None
        fn = _load(self.check)
        return partial(fn, name=self.name) if self.kind == "online" else fn

    def algorithm_class(self):
        """The online loop's plug-in class of an online method."""
        if self.algorithm is None:
            raise ValueError(f"{self.name} ({self.kind}) is not an online method")
        return _load(self.algorithm)


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


METHODS: dict[str, Method] = {}
"""name → Method, in registration order (the order of `alignlab train --help`)."""


def register(method: Method) -> Method:
    """Add a method (a plug-in's entry point). A name already taken is an error, so a plug-in cannot silently
    replace a built-in method."""
    if method.name in METHODS and METHODS[method.name] != method:
        raise ValueError(f"method '{method.name}' is already registered ({METHODS[method.name].kind})")
    if method.kind == "online" and method.algorithm is None:
        raise ValueError(f"online method '{method.name}' needs `algorithm` (module:Class of its plug-in)")
    METHODS[method.name] = method
    return method


def evaluates_only(verb: str) -> bool:
    """True for a verb that trains nothing and only evaluates a given model (a sweep's `evaluation` cells)."""
    return METHODS[verb].kind == "evaluation"


def names(*kinds: str) -> list[str]:
    """Registered names of these kinds (all when none are given)."""
    return [n for n, m in METHODS.items() if not kinds or m.kind in kinds]


ONLINE = "alignlab.pipelines.online:run_online"
ONLINE_CHECK = "alignlab.pipelines.online:check_online_config"
_BUILT_IN = [
    Method("sft", "offline", "Supervised fine-tuning (full or LoRA) on the offline loop.", ("sft",),
           runner="alignlab.pipelines.sft:run_sft"),
    Method("rm", "offline", "Reward model (Bradley–Terry on preference pairs or labelled texts); the output is a "
           "reward_model: scorer.", ("rm",), runner="alignlab.pipelines.reward_model:run_rm"),
    Method("dpo", "offline", "The DPO family on preference pairs: loss.name selects the loss (alignlab config show "
           "--explain lists them).", ("loss", "beta", "ref"), runner="alignlab.pipelines.dpo:run_dpo",
           check="alignlab.pipelines.dpo:check_dpo_config"),
    Method("reinforce", "online", "REINFORCE with a moving-average baseline on the online loop (reward − β·KL, KL "
           "shaped into the reward).", ("rl", "kl", "advantage", "ref", "reward"), runner=ONLINE, check=ONLINE_CHECK,
           algorithm="alignlab.algorithms.reinforce:Reinforce"),
    Method("rloo", "online", "RLOO: REINFORCE with the leave-one-out baseline over rl.k replies per prompt, on the "
           "online loop.", ("rl", "kl", "advantage", "ref", "reward"), runner=ONLINE, check=ONLINE_CHECK, algorithm="alignlab.algorithms.rloo:RLOO"),
    Method("ppo", "online", "PPO: clipped ratio and value losses, GAE, KL-shaped reward (optionally adaptive β), on "
           "the online loop.", ("rl", "kl", "advantage", "ref", "reward"), runner=ONLINE, check=ONLINE_CHECK, algorithm="alignlab.algorithms.ppo:PPO"),
    Method("grpo", "online", "GRPO: group-normalised advantages, PPO's clip and a k3 KL loss, on the online loop.",
           ("rl", "kl", "advantage", "ref", "reward"), runner=ONLINE, check=ONLINE_CHECK, algorithm="alignlab.algorithms.grpo:GRPO"),
    Method("warp", "composite", "WARP: warp.iterations rounds of warp.runs RL runs (EMA anchor), merged by SLERP, "
           "then LITI; evaluated.", ("warp", "rl", "kl", "advantage", "ref", "reward"), runner="alignlab.pipelines.warp:run_warp",
           check="alignlab.pipelines.warp:check_warp_config"),
    Method("pairs", "data", "Build a preference dataset: sample N completions per prompt, score, filter, pair.",
           ("pairs", "reward"), runner="alignlab.pipelines.pairs:run_pairs",
           check="alignlab.pipelines.pairs:check_pairs_config"),
    Method("bon", "inference", "Best-of-n: sample bon.n replies per prompt, keep the proxy's best; gold and proxy "
           "against √KL = √(log n − (n−1)/n), with the fit of Gao et al.", ("bon", "eval", "reward"),
           runner="alignlab.pipelines.best_of_n:run_best_of_n", check="alignlab.pipelines.best_of_n:check_bon_config"),
    Method("eval", "evaluation", "Evaluate a model (a sweep cell's starting point) with the sweep's evaluation.",
           ("eval",)),
]
for _method in _BUILT_IN:
    register(_method)
DEFAULT_SWEEP_VERB = "dpo"
"""The verb of a sweep's cells when the sweep file names none."""
DEFAULT_WARP_ALGORITHM = "rloo"
"""`warp.algorithm` when the config names none."""


def markdown_table() -> str:
    """The methods table of README.md ("Methods"), generated from the registry (a unit test keeps them equal)."""
    lines = ["| method | kind | config sections | what it does |", "|---|---|---|---|"]
    lines += [f"| `{m.name}` | {m.kind} | {', '.join(f'`{s}`' for s in m.sections)} | {m.help} |" for m in METHODS.values()]
    return "\n".join(lines)


def load_plugins(value: str | None = None) -> list[str]:
    """Import the modules named in ALIGNLAB_PLUGINS (comma-separated); returns their names."""
    mods = [m.strip() for m in (os.environ.get(PLUGINS_ENV, "") if value is None else value).split(",") if m.strip()]
    for mod in mods:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise ImportError(f"{PLUGINS_ENV}: cannot import plug-in module '{mod}': {exc}") from exc
    return mods


load_plugins()
