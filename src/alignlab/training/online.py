"""The online loop: rollout → score → log-probs → KL → advantages → update → log.

One explicit loop for every method that learns from its own samples (REINFORCE, RLOO, PPO, GRPO). Each iteration:
1. rollout: `rl.prompts_per_iteration` prompts × `rl.k` sampled replies, with the behaviour log-probs and
   entropies of the policy that sampled them (`alignlab.rollout`);
2. score: any scorer of `alignlab.rewards` on (prompt, reply) **text**: no other model's token ids ever reach
   the policy (study B's KL bug);
3. log-probs of the reference (and values of the critic) on the policy's own tokens, without gradients;
4. KL per token with `kl.estimator`, shaped into the rewards (`kl.mode=in_reward`) or kept for the loss;
5. advantages (`advantage.estimator`, one dict: `ADVANTAGES`), optionally whitened;
6. update: `rl.update_epochs` passes over shuffled mini-batches of train.batch_size × train.grad_accum replies;
   the algorithm's loss, plus β·KL computed in the graph when `kl.mode=in_loss`;
7. log: reward, KL under every estimator (named kl_k1/kl_k2/kl_k3), entropy, length, collapse, clipping, value
   loss and the time split between generation, scoring, log-probs and training.
An algorithm (the plug-in an online entry of `alignlab.methods.METHODS` names) supplies its defaults and
`loss(logps, values, minibatch) -> (summed loss, summed metrics)`. Every random choice of an iteration is seeded
from (seed, iteration), so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Protocol, runtime_checkable

import torch
from accelerate import Accelerator
from transformers import PreTrainedTokenizerBase

from alignlab.algorithms.advantages import ADVANTAGES, MOVING_BASELINE, MovingBaseline, gae, whiten
from alignlab.algorithms.kl_control import KLController
from alignlab.algorithms.logprobs import token_stats
from alignlab.algorithms.reference import ReferenceStrategy, frozen_eval
from alignlab.config import Config
from alignlab.losses.kl import KL_ESTIMATORS
from alignlab.rewards.base import Scorer
from alignlab.rollout import Rollout, RolloutEngine
from alignlab.rollout.statistics import kl_per_token, reference_logps, sample_metrics, sample_prompts
from alignlab.runs.atomic import atomic_write_text
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import progress_bar
from alignlab.runs.rundir import RunDir
from alignlab.training import checkpoint as ckpt
from alignlab.training.loop import Pace, after_step, evaluation_notice, finish, save
from alignlab.training.optim import apply_optimizer_settings, build_optimizer, build_scheduler
from alignlab.training.signals import (
    GracefulStop,
    Interrupted,
    TrainingDiverged,
    diverged_message,
    finite_everywhere,
    sampling_diverges,
    stop_requested,
    weights_finite,
)


@dataclass(frozen=True)
class Settings:
    """The algorithm's defaults with the config's choices applied (config `None` = the algorithm's own)."""

    estimator: str
    kl_estimator: str
    kl_mode: str
    whiten: bool

    @classmethod
    def of(cls, cfg: Config, algorithm) -> Settings:
        pick = lambda value, default: default if value is None else value  # noqa: E731
        return cls(pick(cfg.advantage.estimator, algorithm.estimator), pick(cfg.kl.estimator, algorithm.kl_estimator),
                   pick(cfg.kl.mode, algorithm.kl_mode), pick(cfg.advantage.whiten, algorithm.whiten))


@runtime_checkable
class OnlineAlgorithm(Protocol):
    """What the online loop needs from a method (`algorithms/reinforce.py`, `rloo.py`, `ppo.py`, `grpo.py`): its
    defaults (each overridable in the config) and its loss on one micro-batch."""

    name: str
    estimator: str
    """Advantage estimator of `ADVANTAGES` (advantage.estimator=None)."""
    kl_estimator: str
    """k1, k2 or k3 (kl.estimator=None)."""
    kl_mode: str
    """in_reward or in_loss (kl.mode=None)."""
    whiten: bool
    """Whiten advantages over the batch (advantage.whiten=None)."""
    needs_value: bool
    """It trains a critic (PPO)."""

    def loss(self, logps: torch.Tensor, values: torch.Tensor | None, minibatch: Experience
             ) -> tuple[torch.Tensor, dict]:
        """(summed loss over the micro-batch's reply tokens, {metric: summed value}); logps, values: [n, T-1]."""


@dataclass
class OnlineRun:
    """What the loop needs, assembled by a pipeline."""

    cfg: Config
    run: RunDir
    accelerator: Accelerator
    policy: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    algorithm: OnlineAlgorithm
    engine: RolloutEngine
    """Samples the policy's replies."""
    scorer: Scorer
    """The training reward (`reward.scorer`)."""
    reference: ReferenceStrategy | None
    """The KL's reference, or None when kl.beta = 0."""
    critic: torch.nn.Module | None
    """PPO's value model: a `ValueModel`, or a `ValueHead` on the policy's hidden states."""
    train_prompts: list[str]
    log: MetricsLog
    evaluator: Callable[[torch.nn.Module, int, int], tuple[dict, list[dict]]] | None = None
    """(policy, process index, processes) → (metrics, sample rows) of the held-out evaluation on that process's
    share of the prompts (`evaluation.policy.sampling_evaluator`); None: no evaluation."""

    @property
    def settings(self) -> Settings:
        return Settings.of(self.cfg, self.algorithm)

    @property
    def critic_is_head(self) -> bool:
        return self.critic is not None and self.cfg.rl.value_model == "head"


@dataclass
class Experience:
    """One rollout batch ready for updates; every [N, T-1] tensor's column t belongs to token t+1."""

    input_ids: torch.Tensor  # [N, T]
    attention_mask: torch.Tensor  # [N, T]
    response_mask: torch.Tensor  # [N, T]
    mask: torch.Tensor  # [N, T-1] bool: reply tokens
    old_logps: torch.Tensor  # [N, T-1] behaviour log-probs
    advantages: torch.Tensor  # [N, T-1]
    ref_logps: torch.Tensor | None = None  # [N, T-1]
    old_values: torch.Tensor | None = None  # [N, T-1]
    returns: torch.Tensor | None = None  # [N, T-1] value targets

    def rows(self, index: torch.Tensor) -> Experience:
        """The selected rows, cut to the columns any of them attends to (less padding per forward)."""
        used = self.attention_mask[index].any(0).nonzero()
        a, b = int(used.min()), int(used.max()) + 1  # token columns [a, b) → next-token columns [a, b − 1)
        width = self.input_ids.shape[1]

        def cut(v):
            return None if v is None else v[index][:, a:b] if v.shape[1] == width else v[index][:, a:b - 1]

        return replace(self, **{f.name: cut(getattr(self, f.name)) for f in fields(self)})


class LoopControl:
    """The loop's state beyond weights (checkpointed): β of the KL and the reinforce baseline."""

    def __init__(self, cfg: Config):
        self.kl = KLController(cfg.kl)
        self.baseline = MovingBaseline(cfg.advantage.baseline_decay)

    def state(self) -> dict:
        return {"kl_beta": self.kl.beta, "baseline": self.baseline.value}

    def load(self, state: dict) -> None:
        self.kl.beta = state.get("kl_beta", self.kl.beta)
        self.baseline.value = state.get("baseline")


@dataclass
class OnlineState:
    """The online loop's state in one object (`training/loop.py`'s `LoopStateLike`): the prepared (possibly
    DDP-wrapped) policy and critic with the one optimizer and schedule of both, the moving reference, β and the
    baseline, the position and the last iteration's metrics."""

    policy: torch.nn.Module
    critic: torch.nn.Module | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    control: LoopControl
    total: int
    """Iterations of the run."""
    anchor: ReferenceStrategy | None = None
    """A moving reference (ref.mode=ema), checkpointed with the weights."""
    position: ckpt.LoopState = field(default_factory=ckpt.LoopState)
    last: dict = field(default_factory=dict)
    pace: Pace = field(default_factory=Pace)

    @property
    def model(self) -> torch.nn.Module:
        return self.policy

    @property
    def extras(self) -> dict:
        out = {"critic": self.critic} if self.critic is not None else {}
        return out | ({"ema_anchor": self.anchor} if self.anchor is not None else {})

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]


def steps_per_iteration(cfg: Config) -> int:
    replies = cfg.rl.prompts_per_iteration * cfg.rl.k
    return cfg.rl.update_epochs * math.ceil(replies / (cfg.train.batch_size * cfg.train.grad_accum))


def train_online(r: OnlineRun, resume_from=None) -> dict:
    """Run `rl.iterations` iterations; returns the last train and eval metrics."""
    cfg, acc = r.cfg, r.accelerator
    n_iter = cfg.rl.iterations
    trainable = torch.nn.ModuleDict({"policy": r.policy} | ({"critic": r.critic} if r.critic is not None else {}))
    optimizer = build_optimizer(trainable, cfg.optimizer, fused=cfg.model.fused_kernels)
    scheduler = build_scheduler(optimizer, cfg.scheduler, n_iter * steps_per_iteration(cfg))
    policy, optimizer = acc.prepare(r.policy, optimizer)
    critic = acc.prepare(r.critic) if r.critic is not None else None
    m = OnlineState(policy, critic, optimizer, scheduler, LoopControl(cfg), n_iter,
                    anchor=r.reference if r.reference is not None and r.reference.moves else None)
    if resume_from is not None:
        m.position = ckpt.load_checkpoint(resume_from, policy, optimizer, scheduler, acc, extras=m.extras)
        apply_optimizer_settings(optimizer, scheduler, cfg.optimizer)
        m.control.load(m.position.extra)
        if acc.is_main_process:
            r.log.truncate_after(m.position.step)
    pos = m.position
    if pos.step == 0:
        evaluate(r, m, 0)
    with GracefulStop() as stop, progress_bar(f"{r.algorithm.name} · {cfg.name}", n_iter, pos.step,
                                              enabled=cfg.logging.progress and acc.is_main_process) as bar:
        while pos.step < n_iter:
            with sampling_diverges(r.run.checkpoints, pos.step + 1):
                m.last = iteration(r, m, pos.step)
            if not weights_finite(m.policy, acc):
                raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite weights after the update",
                                                        pos.step + 1))
            pos.step += 1
            pos.extra = m.control.state()
            with sampling_diverges(r.run.checkpoints, pos.step):
                after_step(r, m, lambda: evaluate(r, m, pos.step))
            bar.update(pos.step, reward=m.last["reward_mean"], kl=m.last.get(f"kl_{r.settings.kl_estimator}", 0.0))
            if stop_requested(stop, acc):
                raise Interrupted(stop.signum, str(save(r, m)))
    final_eval = finish(r, m, lambda: evaluate(r, m, pos.step))
    return {"train": m.last, "eval": final_eval, "steps": pos.step, "model": m.policy, "critic": m.critic}


def iteration(r: OnlineRun, m: OnlineState, it: int) -> dict:
    """One rollout batch: sample, score, prepare advantages, update; returns the iteration's metrics."""
    cfg, acc, control = r.cfg, r.accelerator, m.control
    clock: dict[str, float] = {}
    prompts = prompts_for_iteration(r.train_prompts, cfg.rl.prompts_per_iteration, it, cfg.seed,
                                    acc.process_index, acc.num_processes)
    with _timed(clock, "generation"):
        roll = r.engine.generate(prompts, cfg.rl.k, seed=_seed(cfg.seed, it, acc.process_index))
    with _timed(clock, "scoring"):
        scores = r.scorer.score(sample_prompts(roll), roll.texts).to(roll.logps.device)
    with _timed(clock, "logprobs"):
        exp, metrics = experience(r, m, roll, scores)
    with _timed(clock, "training"):
        metrics |= update(r, m, exp, it, control.kl.beta)
        r.engine.update_weights(acc.unwrap_model(m.policy))
    total = sum(clock.values())
    metrics |= {f"time_{k}": v for k, v in clock.items()} | {f"time_frac_{k}": v / total for k, v in clock.items()}
    metrics["samples_per_s"] = len(roll.texts) / max(total, 1e-9)
    metrics["tokens"] = float(roll.response_mask.sum())  # reply tokens sampled (this process's share)
    metrics = _mean_over_processes(acc, metrics)  # every process moves β and the baseline by the same global numbers
    if exp.ref_logps is not None:
        control.kl.update(metrics[f"kl_{r.settings.kl_estimator}"], len(roll.texts) * acc.num_processes)
    if r.settings.estimator in MOVING_BASELINE:
        control.baseline.update(metrics["return_mean"])  # after use: a baseline never sees the batch it is subtracted from
    return metrics


@torch.no_grad()
def experience(r: OnlineRun, m: OnlineState, roll: Rollout, scores: torch.Tensor) -> tuple[Experience, dict]:
    """Reference log-probs, values, KL-shaped rewards, advantages and returns of one rollout batch."""
    s, adv_cfg, control = r.settings, r.cfg.advantage, m.control
    mask = roll.token_mask  # [N, T-1]
    ref = _reference_logps(r, m, roll)
    values = _old_values(r, m, roll, mask)
    rewards = scores[:, None] * last_token(mask)  # [N, T-1]: the score lands on the final reply token
    kl = kl_per_token(roll, ref)
    if kl and s.kl_mode == "in_reward":
        rewards = rewards - control.kl.beta * kl[s.kl_estimator]
    returns_seq = (rewards * mask).sum(-1)  # [N]
    adv = ADVANTAGES[s.estimator](rewards, mask, k=roll.k, baseline=control.baseline.current(returns_seq),
                                  values=values, gamma=adv_cfg.gamma, lam=adv_cfg.lam, eps=adv_cfg.eps)
    returns = None
    if values is not None:  # value targets: GAE's A + V, or rewards-to-go (λ = 1) under another estimator
        returns = (adv if s.estimator == "gae" else gae(rewards, mask, values=values, gamma=adv_cfg.gamma, lam=1.0)) + values
    if s.whiten:
        adv = whiten(adv, mask)
    exp = Experience(roll.input_ids, roll.attention_mask, roll.response_mask, mask, roll.logps, adv, ref, values, returns)
    metrics = sample_metrics(roll, scores, mask, kl) | {"return_mean": float(returns_seq.mean()),
                                                        "kl_beta": control.kl.beta,
                                                        "advantage_std": float(adv[mask].std()) if mask.sum() > 1 else 0.0}
    if values is not None:
        metrics["explained_variance"] = explained_variance(values[mask], returns[mask])
    return exp, metrics


def update(r: OnlineRun, m: OnlineState, exp: Experience, it: int, beta: float) -> dict:
    """`rl.update_epochs` passes of shuffled mini-batches; returns token-averaged loss metrics."""
    cfg = r.cfg
    n = exp.input_ids.shape[0]
    window = cfg.train.batch_size * cfg.train.grad_accum
    sums: dict[str, float] = {}
    norms = []
    for epoch in range(cfg.rl.update_epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(_seed(cfg.seed, it, epoch + 1)))
        for start in range(0, n, window):
            rows = order[start:start + window].to(exp.input_ids.device)
            step_sums, norm = _optimizer_step(r, m, exp, rows, beta, it + 1)
            norms.append(norm)
            for k, v in step_sums.items():
                sums[k] = sums.get(k, 0.0) + v
    tokens = max(sums.pop("tokens"), 1.0)
    out = {k: v / tokens for k, v in sums.items()}
    return out | {"grad_norm": sum(norms) / len(norms), "lr": m.scheduler.get_last_lr()[0],
                  "optimizer_steps": len(norms)}


def _optimizer_step(r: OnlineRun, m: OnlineState, exp: Experience, rows: torch.Tensor, beta: float, step: int
                    ) -> tuple[dict, float]:
    acc = r.accelerator
    micro = rows.split(r.cfg.train.batch_size)
    weight = max(1.0, float(exp.mask[rows].sum()))
    sums: dict[str, float] = {}
    for i, index in enumerate(micro):
        with ExitStack() as stack:
            if i < len(micro) - 1:
                for model in (m.policy, m.critic):
                    if model is not None:
                        stack.enter_context(acc.no_sync(model))
            stack.enter_context(acc.autocast())
            loss, metrics = micro_loss(r, m, exp.rows(index), beta)
        if not finite_everywhere(loss, acc):
            raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite loss", step))
        acc.backward(loss / weight)
        for k, v in (metrics | {"loss": loss.detach()}).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    norm = acc.clip_grad_norm_(m.parameters(), r.cfg.train.max_grad_norm or float("inf"))
    if not torch.isfinite(norm) and r.cfg.train.mixed_precision != "fp16":
        raise TrainingDiverged(diverged_message(r.run.checkpoints, "non-finite gradient norm", step))
    m.optimizer.step()
    m.scheduler.step()
    m.optimizer.zero_grad(set_to_none=True)
    if r.reference is not None:
        r.reference.policy_updated(m.policy)  # a moving anchor (ref.mode=ema) follows every update
    return sums, float(norm)


def micro_loss(r: OnlineRun, m: OnlineState, mb: Experience, beta: float) -> tuple[torch.Tensor, dict]:
    """The algorithm's loss on one micro-batch, plus β·KL in the graph when `kl.mode=in_loss`."""
    s = r.settings
    st = token_stats(m.policy, mb.input_ids, mb.attention_mask, mb.response_mask, r.cfg.model.chunk_tokens,
                     value_head=m.critic if r.critic_is_head else None)
    values = st.values
    if m.critic is not None and values is None:
        values = m.critic(mb.input_ids, mb.attention_mask)[:, :-1] * mb.mask  # [n, T-1]: V(s_t) for token t+1
    loss, metrics = r.algorithm.loss(st.logps, values, mb)
    if mb.ref_logps is not None and s.kl_mode == "in_loss":
        kl = (KL_ESTIMATORS[s.kl_estimator](st.logps, mb.ref_logps) * mb.mask).sum()
        loss = loss + beta * kl
        metrics["kl_loss"] = kl.detach()
    return loss, metrics | {"tokens": mb.mask.sum()}


@torch.no_grad()
def evaluate(r: OnlineRun, m: OnlineState, step: int) -> dict:
    """The pipeline's held-out evaluator on this process's share of the prompts (the same prompts and seed every
    time), averaged over processes; samples go to samples/step-N.jsonl."""
    acc = r.accelerator
    if r.evaluator is None:
        return {}
    with evaluation_notice(r, m):
        metrics, rows = r.evaluator(acc.unwrap_model(m.policy), acc.process_index, acc.num_processes)
    numbers = _mean_over_processes(acc, {k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    metrics = metrics | numbers | {"kl_beta": m.control.kl.beta}
    if acc.is_main_process:
        r.log.log(step, "eval", metrics)
        (r.run.path / "samples").mkdir(exist_ok=True)
        atomic_write_text(r.run.path / "samples" / f"step-{step}.jsonl", "".join(json.dumps(x) + "\n" for x in rows))
    return metrics


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 − Var(returns − values) / Var(returns): 1 for a perfect critic, 0 for a constant one."""
    var = returns.var() if returns.numel() > 1 else returns.new_zeros(())
    return float(1 - (returns - values).var() / var) if var > 0 else 0.0


def last_token(mask: torch.Tensor) -> torch.Tensor:
    """[N, T-1] bool: the last True of each row of `mask`."""
    after = mask.long().flip(-1).cumsum(-1).flip(-1)  # True positions at or after each column
    return mask & (after == 1)


def prompts_for_iteration(prompts: list[str], per_process: int, it: int, seed: int, rank: int, world: int) -> list[str]:
    """This process's prompts of iteration `it`: consecutive slices of seeded permutations of the prompt set,
    one permutation per pass, so every prompt is used once before any is repeated."""
    n = len(prompts)
    start = (it * world + rank) * per_process
    return [prompts[int(_permutation(n, seed, i // n)[i % n])] for i in range(start, start + per_process)]


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(_seed(seed, epoch, 0)))


def _reference_logps(r: OnlineRun, m: OnlineState, roll: Rollout) -> torch.Tensor | None:
    return reference_logps(r.reference, m.policy, roll, r.cfg.generation.batch_size, r.cfg.model.chunk_tokens)


def _old_values(r: OnlineRun, m: OnlineState, roll: Rollout, mask: torch.Tensor) -> torch.Tensor | None:
    if m.critic is None:
        return None
    chunk, out = r.cfg.generation.batch_size, []
    with frozen_eval(m.policy), frozen_eval(m.critic):
        for s in range(0, roll.input_ids.shape[0], chunk):
            ids, attn = roll.input_ids[s:s + chunk], roll.attention_mask[s:s + chunk]
            if r.critic_is_head:
                out.append(token_stats(m.policy, ids, attn, roll.response_mask[s:s + chunk], r.cfg.model.chunk_tokens,
                                       value_head=m.critic).values)
            else:
                out.append(m.critic(ids, attn)[:, :-1])
    return torch.cat(out) * mask


@contextmanager
def _timed(clock: dict, name: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        clock[name] = clock.get(name, 0.0) + time.perf_counter() - t0


def _seed(seed: int, a: int, b: int) -> int:
    return ((seed * 1_000_003 + a) * 10_007 + b) % (2**63 - 1)


def _mean_over_processes(acc, metrics: dict) -> dict:
    if acc.num_processes == 1:
        return metrics
    names = sorted(metrics)
    values = acc.reduce(torch.tensor([float(metrics[k]) for k in names], dtype=torch.float64, device=acc.device),
                        reduction="mean")
    return dict(zip(names, values.tolist(), strict=True))
