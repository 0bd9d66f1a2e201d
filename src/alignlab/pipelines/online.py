"""One driver for the online verbs (`train reinforce|rloo|ppo|grpo`): policy, reference, critic, scorer and
prompts → run dir → the online loop → final/.

The KL reference follows `ref.mode` (copy: a frozen second model; adapter: the LoRA policy with adapters off, or
a frozen second adapter); training skips it when kl.beta = 0 and no adaptive controller could raise it (the held-out
evaluations still measure KL to the start with one of their own). PPO's critic
is a `ValueModel` (`rl.value_model=separate`, from `rl.value_init` or the policy's starting model) or a
`ValueHead` on the policy (`head`); it is saved next to the policy as final/value/.
"""

from __future__ import annotations

from pathlib import Path

from accelerate.utils import set_seed

from alignlab.algorithms.advantages import GROUPED, NEEDS_VALUES
from alignlab.algorithms.reference import FrozenCopy
from alignlab.config import Config, ConfigError
from alignlab.data.sft import sampling_chat
from alignlab.data.sources import load_prompts
from alignlab.evaluation.policy import EVAL_SEED_OFFSET, HeldOut, sampling_evaluator
from alignlab.methods import METHODS, names
from alignlab.models.loading import adapter_base, disable_dropout, load_model
from alignlab.models.value import ValueHead, ValueModel, hidden_size
from alignlab.pipelines.common import (
    agreed_run_path,
    close_run,
    finish_diagnostics,
    load_policy,
    make_accelerator,
    open_run_dir,
    reference_strategy,
    resolve_data,
    resolve_model,
    save_final,
    start_trackers,
    status_on_error,
)
from alignlab.rewards import build_scorer
from alignlab.rollout import HFRolloutEngine
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import console
from alignlab.training import checkpoint as ckpt
from alignlab.training.online import OnlineRun, Settings, steps_per_iteration, train_online


def check_online_config(cfg: Config, name: str) -> None:
    """Config errors the schema cannot see because they depend on the verb."""
    if cfg.reference_mode == "precomputed":
        raise ConfigError("ref.mode=precomputed: online replies change every iteration, so reference log-probs "
                          "cannot be computed in advance; use copy or adapter")
    if cfg.train.max_steps is not None:
        raise ConfigError("train.max_steps: the online verbs run rl.iterations rollout batches; set rl.iterations")
    algorithm = METHODS[name].algorithm_class()
    settings = Settings.of(cfg, algorithm)
    if settings.estimator in GROUPED and cfg.rl.k < 2:
        raise ConfigError(f"rl.k={cfg.rl.k}: advantage.estimator={settings.estimator} compares the k replies of a "
                          "prompt; set rl.k >= 2")
    if settings.estimator in NEEDS_VALUES and not algorithm.needs_value:
        critics = [n for n in names("online") if METHODS[n].algorithm_class().needs_value]
        raise ConfigError(f"advantage.estimator={settings.estimator} needs a value model; train {name} has none (methods with one: "
                          f"{', '.join(critics)})")


def _warnings(cfg: Config, settings: Settings) -> list[str]:
    g, out = cfg.generation, []
    if g.temperature != 1.0 or g.top_k or g.top_p < 1.0:
        out.append(f"generation samples with temperature={g.temperature}, top_k={g.top_k}, top_p={g.top_p}: the "
                   "replies do not come from the policy's own distribution, so KL estimates and the policy gradient "
                   "are biased (RL presets use temperature=1, top_k=0)")
    if settings.kl_mode == "in_loss" and settings.kl_estimator == "k1" and cfg.kl.beta > 0:
        out.append("kl.estimator=k1 with kl.mode=in_loss: the gradient of Σ(log π − log π_ref) on fixed samples has "
                   "expectation 0, so this term does not pull towards the reference; use k2 or k3 (docs/rl.md)")
    return out


def build_critic(cfg: Config, policy):
    """PPO's critic: a value head on the policy, or a backbone (rl.value_init or the policy's start) + head."""
    if cfg.rl.value_model == "head":
        return ValueHead(hidden_size(policy.config))
    chosen = cfg.model if cfg.rl.value_init is None else cfg.model.model_copy(
        update={"name_or_path": cfg.rl.value_init, "gguf_file": None})
    source = resolve_model(chosen)
    base = adapter_base(source.name_or_path)  # a LoRA policy's critic starts from the adapter's base model
    if base:
        source = source.model_copy(update={"name_or_path": base})
    return ValueModel(load_model(source, head="backbone"))


def run_online(cfg: Config, name: str, command: str = "", resume: Path | None = None) -> dict:
    """Train the online method `name` (an online entry of `alignlab.methods.METHODS`); returns {"run_dir",
    "train", "eval", "steps"}. Its checks (`check_online_config`, the environment) ran at the door
    (`pipelines/door.py`); WARP, which calls this for each of its runs, passed the same door."""
    algorithm = METHODS[name].algorithm_class()(cfg.rl)
    path = agreed_run_path(cfg, resume)
    acc = make_accelerator(cfg, path)
    set_seed(cfg.seed)
    # Everything that can fail on bad input happens before the run directory exists.
    train_prompts = load_prompts(resolve_data(cfg.data), cfg.data.train_split)[: cfg.data.max_train_samples]
    n_held = cfg.eval.held_out_prompts(online=True)
    eval_prompts = (load_prompts(resolve_data(cfg.data), cfg.data.eval_split)[:n_held]
                    if cfg.data.eval_split and n_held else [])
    policy, tokenizer = load_policy(cfg, verbose=acc.is_main_process)
    if cfg.model.disable_dropout:
        disable_dropout(policy)  # behaviour, reference and update passes must see the same function
    policy.to(acc.device)
    scorer = build_scorer(cfg.reward.scorer, cfg.reward, device=str(acc.device), progress=False)
    gold = build_scorer(cfg.eval.gold, cfg.reward, device=str(acc.device), progress=False) if cfg.eval.gold else None
    reference = _reference(cfg, policy, acc)
    critic = build_critic(cfg, policy).to(acc.device) if algorithm.needs_value else None
    settings = Settings.of(cfg, algorithm)
    run = open_run_dir(cfg, path, command, resuming=resume is not None, is_main=acc.is_main_process)
    with status_on_error(acc, run):  # from here on a stop of any kind is recorded in the manifest
        log = MetricsLog(run.metrics_file, tracker=acc if cfg.logging.report_to else None)
        start = ckpt.resume_point(run.checkpoints, announce=acc.is_main_process) if resume is not None else None
        if acc.is_main_process:
            if resume is not None and start is None:
                log.truncate_after(-1)
            _announce(cfg, name, settings, len(train_prompts), len(eval_prompts), reference)
            if start is None:
                run.update_manifest(online={"algorithm": name, **settings.__dict__, "train_prompts": len(train_prompts),
                                            "reference": type(reference).__name__ if reference is not None else None,
                                            "eval_prompts": len(eval_prompts),
                                            "optimizer_steps_per_iteration": steps_per_iteration(cfg)})
        start_trackers(cfg, acc, run)
        engine = HFRolloutEngine(policy, tokenizer, cfg.generation, chat=sampling_chat(cfg.data), chunk_tokens=cfg.model.chunk_tokens)
        held = HeldOut(eval_prompts, cfg.eval.in_training_k, cfg.seed + EVAL_SEED_OFFSET, cfg.generation, scorer, gold, None,
                       chat=sampling_chat(cfg.data), chunk_tokens=cfg.model.chunk_tokens)
        # KL to the start is measured in every held-out evaluation, also at kl.beta = 0 (√KL is the x-axis of reward
        # over-optimisation): the evaluation then gets a reference of its own, which training never reads
        held_reference = reference if reference is not None or not eval_prompts else _reference(cfg, policy, acc, always=True)
        loop = OnlineRun(cfg, run, acc, policy, tokenizer, algorithm, engine, scorer, reference, critic, train_prompts, log,
                         evaluator=sampling_evaluator(held, tokenizer, lambda: held_reference) if eval_prompts else None)
        result = train_online(loop, resume_from=start)
        trained_critic = result.pop("critic")

        def save_critic(folder: Path) -> None:
            if trained_critic is not None:
                acc.unwrap_model(trained_critic).save(folder / "value")

        save_final(acc, result.pop("model"), tokenizer, run, save_critic)
        finish_diagnostics(cfg, acc, run)
    close_run(acc, run, "completed")
    return {"run_dir": str(run.path), "is_main_process": acc.is_main_process, **result}


def _reference(cfg: Config, policy, acc, always: bool = False):
    if cfg.kl.beta == 0 and not cfg.kl.adaptive and not always:
        return None
    strategy = reference_strategy(cfg, policy)
    if isinstance(strategy, FrozenCopy):
        strategy.model.to(acc.device)
    return strategy


def _announce(cfg: Config, name: str, s: Settings, n_train: int, n_eval: int, reference) -> None:
    kl = (f"KL {s.kl_estimator} {s.kl_mode.replace('_', ' ')}, beta {cfg.kl.beta}"
          + (f" adaptive (target {cfg.kl.target})" if cfg.kl.adaptive else "")) if reference is not None else "no KL"
    console.print(f"{name}: {cfg.rl.iterations} iterations x {cfg.rl.prompts_per_iteration} prompts x "
                  f"k={cfg.rl.k} replies; advantages {s.estimator}{' (whitened)' if s.whiten else ''}; {kl}; "
                  f"reward {cfg.reward.scorer}; prompts: {n_train} train, {n_eval} held-out")
    for line in _warnings(cfg, s):
        console.print(f"[yellow]warning:[/yellow] {line}")
