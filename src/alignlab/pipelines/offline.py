"""One driver for every offline verb (`train sft`, `train rm`, later DPO): model → data → run dir → loop → final/.

A verb describes only what differs (`OfflineMethod`): the model head, how rows become examples, the
algorithm plugged into the loop, and what it adds to `final/`. Everything else (accelerator, resume,
trackers, run status, atomic final save) is shared here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from accelerate.utils import set_seed

from alignlab.config import Config
from alignlab.data.sft import fingerprint, sampling_chat
from alignlab.data.sources import DataError, load_prompts
from alignlab.evaluation.policy import EVAL_SEED_OFFSET, HeldOut, sampling_evaluator
from alignlab.pipelines.common import (
    agreed_run_path,
    close_run,
    finish_diagnostics,
    load_policy,
    make_accelerator,
    open_run_dir,
    resolve_data,
    save_final,
    start_trackers,
    status_on_error,
)
from alignlab.rewards import build_scorer
from alignlab.runs.metrics import MetricsLog
from alignlab.runs.progress import console
from alignlab.training import checkpoint as ckpt
from alignlab.training.offline import OfflineAlgorithm, OfflineRun, train_offline


@dataclass
class OfflineMethod:
    algorithm: OfflineAlgorithm
    """The loop plug-in."""
    prepare_data: Callable
    """(cfg, tokenizer) → (train examples, held-out examples or None, stats dict with "train"/"eval")."""
    describe_data: Callable[[dict], str]
    """Train stats → the one-line data summary printed at start."""
    head: str = "causal_lm"
    """Model head to load (see models.loading.HEADS)."""
    prepare_model: Callable = field(default=lambda model, tokenizer: model)
    """Adjust the loaded model (e.g. set the pad id a reward head needs)."""
    save_extras: Callable = field(default=lambda folder, cfg, tokenizer: None)
    """Write extra files into the final/ folder before it is published."""
    before_training: Callable = field(default=lambda model, tokenizer, train, held, accelerator, log: None)
    """Last preparation once the run directory exists (e.g. precompute reference log-probs into the examples)."""
    reference: Callable[[], object] = field(default=lambda: None)
    """The live reference strategy, for KL in the sampling evaluation (None: no KL)."""


def samples_in_training(cfg: Config) -> bool:
    """Whether the offline loop samples held-out replies at its evaluations (`eval.in_training_prompts`)."""
    return bool(cfg.eval.held_out_prompts(online=False) and cfg.data.eval_split)


def sample_evaluator(cfg: Config, tokenizer, reference: Callable[[], object], device: str):
    """model → held-out sampling metrics on `eval.in_training_prompts` prompts × `eval.in_training_k` replies with a
    fixed seed (reward, gold, KL to the live reference, diversity); None when turned off or without prompts."""
    e = cfg.eval
    n_held = e.held_out_prompts(online=False)
    if not samples_in_training(cfg):
        return None
    try:
        prompts = load_prompts(resolve_data(cfg.data), cfg.data.eval_split)[:n_held]
    except DataError:
        return None  # held-out data without a prompt field (e.g. plain text): nothing to sample from
    scorer = build_scorer(e.proxy or cfg.reward.scorer, cfg.reward, device=device, progress=False)
    gold = build_scorer(e.gold, cfg.reward, device=device, progress=False) if e.gold else None
    held = HeldOut(prompts, e.in_training_k, cfg.seed + EVAL_SEED_OFFSET, cfg.generation, scorer, gold, None,
                   chat=sampling_chat(cfg.data), chunk_tokens=cfg.model.chunk_tokens)
    evaluate = sampling_evaluator(held, tokenizer, reference)
    return lambda model: evaluate(model)[0]


def run_offline(cfg: Config, method: OfflineMethod, command: str = "", resume: Path | None = None) -> dict:
    """Train; returns {"run_dir", "train", "eval", "steps"}. Exceptions leave the run resumable. The method's and
    the environment's checks ran at the door (`pipelines/door.py`)."""
    path = agreed_run_path(cfg, resume)
    acc = make_accelerator(cfg, path)
    set_seed(cfg.seed)
    # Model and data load before the run directory exists: a bad model or data row leaves nothing behind.
    model, tokenizer = load_policy(cfg, verbose=acc.is_main_process, head=method.head)
    model = method.prepare_model(model, tokenizer)
    train, held, stats = method.prepare_data(cfg, tokenizer)
    run = open_run_dir(cfg, path, command, resuming=resume is not None, is_main=acc.is_main_process)
    with status_on_error(acc, run):  # from here on a stop of any kind is recorded in the manifest
        log = MetricsLog(run.metrics_file, tracker=acc if cfg.logging.report_to else None)
        start = ckpt.resume_point(run.checkpoints, announce=acc.is_main_process) if resume is not None else None
        if acc.is_main_process:
            if resume is not None and start is None:
                log.truncate_after(-1)  # stopped before its first checkpoint: start over in the same folder
            console.print(method.describe_data(stats["train"]))
            if start is None:
                log.log(0, "data", {f"train_{k}": v for k, v in stats["train"].items()}
                        | {f"eval_{k}": v for k, v in (stats.get("eval") or {}).items()})
                run.update_manifest(data_fingerprint=fingerprint(train), data=stats)
        start_trackers(cfg, acc, run)
        loop = OfflineRun(cfg, run, acc, model, tokenizer, method.algorithm, train, held, log,
                          sample_eval=sample_evaluator(cfg, tokenizer, method.reference, str(acc.device))
                          if method.head == "causal_lm" and acc.is_main_process else None)  # only rank 0 samples
        method.before_training(model, tokenizer, train, held, acc, log)
        result = train_offline(loop, resume_from=start)
        save_final(acc, result.pop("model"), tokenizer, run, lambda folder: method.save_extras(folder, cfg, tokenizer))
        finish_diagnostics(cfg, acc, run)
    close_run(acc, run, "completed")
    return {"run_dir": str(run.path), "is_main_process": acc.is_main_process, **result}
