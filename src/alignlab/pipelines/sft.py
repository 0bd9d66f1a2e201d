"""`alignlab train sft`: data → model (+LoRA) → offline loop → final/ model or adapter."""

from __future__ import annotations

from pathlib import Path

from accelerate.utils import set_seed

from alignlab.algorithms.sft import SFT
from alignlab.config import Config
from alignlab.data.sft import fingerprint, tokenize_rows
from alignlab.data.sources import DataError, load_splits
from alignlab.pipelines.common import (
    agreed_run_path,
    check_environment,
    load_policy,
    make_accelerator,
    open_run_dir,
)
from alignlab.runs.atomic import atomic_dir
from alignlab.runs.metrics import MetricsLog
from alignlab.training import checkpoint as ckpt
from alignlab.training.offline import OfflineRun, train_offline
from alignlab.training.progress import console
from alignlab.training.signals import Interrupted


def prepare_sft_data(cfg: Config, tokenizer, corpus_spec=None):
    train_rows, eval_rows = load_splits(cfg.data, cfg.seed, corpus_spec)
    train, train_stats = tokenize_rows(train_rows, tokenizer, cfg.data)
    held, held_stats = tokenize_rows(eval_rows, tokenizer, cfg.data) if eval_rows is not None else (None, None)
    if not train:
        raise DataError(f"no training example survived tokenisation ({train_stats.as_dict()}); "
                        "check data.max_length and the field names")
    return train, held, {"train": train_stats.as_dict(), "eval": held_stats.as_dict() if held_stats else None}


def run_sft(cfg: Config, command: str = "", resume: Path | None = None, corpus_spec=None) -> dict:
    """Train; returns {"run_dir", "train", "eval", "steps"}. Exceptions leave the run resumable."""
    check_environment(cfg)
    path = agreed_run_path(cfg, resume)
    acc = make_accelerator(cfg, path)
    set_seed(cfg.seed)
    # Model and data load before the run directory exists: a bad model or data row leaves nothing behind.
    model, tokenizer = load_policy(cfg, verbose=acc.is_main_process)
    train, held, stats = prepare_sft_data(cfg, tokenizer, corpus_spec)
    run = open_run_dir(cfg, path, command, resuming=resume is not None, is_main=acc.is_main_process)
    log = MetricsLog(run.metrics_file, tracker=acc if cfg.logging.report_to else None)
    start = ckpt.latest_checkpoint(run.checkpoints) if resume is not None else None
    if acc.is_main_process:
        if resume is not None and start is None:
            log.truncate_after(-1)  # stopped before its first checkpoint: start over in the same folder
        _report_data(run, log, stats, train, fresh=start is None)
    if cfg.logging.report_to:
        acc.init_trackers("alignlab", init_kwargs={"wandb": {"name": path.name}, "mlflow": {"run_name": path.name}})
    loop = OfflineRun(cfg, run, acc, model, tokenizer, SFT(cfg.sft.label_smoothing), train, held, log)
    try:
        result = train_offline(loop, resume_from=start)
    except Interrupted:
        _close(acc, run, "interrupted")
        raise
    except Exception:
        _close(acc, run, "failed")
        raise
    _save_final(acc, result.pop("model"), tokenizer, run)
    _close(acc, run, "completed")
    return {"run_dir": str(path), "is_main_process": acc.is_main_process, **result}


def _report_data(run, log, stats, train, fresh: bool) -> None:
    s = stats["train"]
    console.print(f"data: {s['kept']} training examples ({s['truncated']} truncated, "
                  f"{s['dropped_no_target']} dropped with no target left), {s['target_tokens']} target tokens")
    if fresh:
        log.log(0, "data", {f"train_{k}": v for k, v in s.items()}
                | {f"eval_{k}": v for k, v in (stats["eval"] or {}).items()})
        run.update_manifest(data_fingerprint=fingerprint(train), data=stats)


def _save_final(acc, model, tokenizer, run) -> None:
    acc.wait_for_everyone()
    if acc.is_main_process:
        with atomic_dir(run.final) as tmp:
            acc.unwrap_model(model).save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    acc.wait_for_everyone()


def _close(acc, run, status: str) -> None:
    if acc.is_main_process:
        run.finish(status)
    acc.end_training()
