"""Assembly shared by every verb: resolve the model, open the run directory, build the accelerator."""

from __future__ import annotations

from contextlib import contextmanager, suppress
from pathlib import Path

from alignlab.algorithms.reference import (
    REFERENCE_ADAPTER,
    AdapterOff,
    EMAAnchor,
    FrozenCopy,
    NamedAdapter,
    PolicyAtStart,
    ReferenceStrategy,
)
from alignlab.config import Config, ConfigError
from alignlab.config.common import ModelConfig
from alignlab.config.data import DataConfig
from alignlab.models.builtin import BUILTIN_DATASETS, builtin_path
from alignlab.models.gguf import ensure_converted, gguf_spec
from alignlab.models.loading import (
    adapter_base,
    four_bit_config,
    load_model,
    load_tokenizer,
    model_source,
    position_limit,
)
from alignlab.models.lora import apply_lora, parameter_counts
from alignlab.runs.atomic import atomic_dir, write_checksums
from alignlab.runs.progress import console
from alignlab.runs.rundir import RunDir, create_run, new_run_name, open_run


def resolve_model(cfg: ModelConfig) -> ModelConfig:
    """`builtin:NAME` → its cached folder (built when the command started: `pipelines/builtins.py`); a GGUF file
    → its converted plain folder (`models/gguf.py`); a run directory → its final/ model; anything else is returned
    unchanged."""
    if gguf_spec(cfg):
        return cfg.model_copy(update={"name_or_path": str(ensure_converted(cfg)), "gguf_file": None})
    source = model_source(cfg.name_or_path)
    return cfg if source == cfg.name_or_path else cfg.model_copy(update={"name_or_path": source})


def resolve_data(cfg: DataConfig) -> DataConfig:
    """A built-in dataset made by a preset (`builtin:reviews-pairs`) → its cached folder; anything else unchanged
    (the generated built-ins such as builtin:reviews are read by `data/sources.py` itself)."""
    if cfg.dataset not in BUILTIN_DATASETS:
        return cfg
    return cfg.model_copy(update={"dataset": str(builtin_path(cfg.dataset))})


def resolve_chat(cfg: Config) -> Config:
    """`data.chat` decided once for a run: as set; else inherited from the run the model starts from; else on for
    message-list data or a set `data.chat_template`, off otherwise. The result is what config.yaml records."""
    if cfg.data.chat is not None:
        return cfg
    chat = trained_chat(cfg.model.name_or_path)
    if chat is None:
        chat = cfg.data.chat_template is not None or data_is_messages(resolve_data(cfg.data))
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"chat": chat})})


def trained_chat(spec: str | None) -> bool | None:
    """The chat setting a model was trained with: its run's recorded `data.chat` (a run directory, its final/, or
    a checkpoint inside it); None for a model alignlab did not train or an old run that did not record it."""
    from alignlab.config import load_config

    if not spec or spec.startswith("builtin:"):
        return None
    p = Path(spec)
    for run in (p, p.parent, p.parent.parent):
        if (run / "config.yaml").is_file() and (run / "manifest.json").is_file():
            data = load_config(run / "config.yaml", [], saved=True).data
            return data.chat if data.chat is not None else (True if data.chat_template is not None else None)
    return None


def data_is_messages(data: DataConfig) -> bool:
    """Rows are message lists: a `messages` column, or preference replies given as message lists (the
    ultrafeedback_binarized layout). Unreadable data answers False; the stage that reads it reports why."""
    from alignlab.data.sources import load_splits

    if data.format != "auto":
        return data.format == "messages"
    if data.dataset == "builtin:reviews-chat":
        return True
    if data.dataset.startswith("builtin:"):
        return False
    try:
        rows, _ = load_splits(data.model_copy(update={"max_train_samples": 1, "eval_split": None}), seed=0,
                              report=False)
    except Exception:
        return False
    if data.messages_field in rows.column_names:
        return True
    return len(rows) > 0 and isinstance(rows[0].get(data.chosen_field), list)


LORA_TASKS = {"causal_lm": "CAUSAL_LM", "reward": "SEQ_CLS"}
"""peft task per model head; SEQ_CLS keeps the fresh reward head trainable (saved with the adapter)."""


def load_policy(cfg: Config, verbose: bool = True, head: str = "causal_lm"):
    """Tokenizer and model, with LoRA applied when `lora.r > 0` (a saved adapter keeps training)."""
    mcfg = resolve_model(cfg.model)
    tokenizer = load_tokenizer(mcfg)
    is_adapter = adapter_base(mcfg.name_or_path) is not None
    model = load_model(mcfg, trainable_adapter=is_adapter and cfg.lora.enabled, head=head)
    if cfg.lora.enabled and not is_adapter:
        model = apply_lora(model, cfg.lora, quantized=cfg.model.load_in_4bit,
                           checkpointing=cfg.model.gradient_checkpointing, task_type=LORA_TASKS[head])
    limit = position_limit(model)
    if limit is not None and cfg.data.max_length > limit:
        raise ConfigError(f"data.max_length={cfg.data.max_length} is more than the {limit} positions "
                          f"{cfg.model.name_or_path} can attend to; set data.max_length <= {limit}")
    trainable, total = parameter_counts(model)
    if verbose:
        console.print(f"model {cfg.model.name_or_path}: {trainable:,} trainable of {total:,} parameters "
                      f"({100 * trainable / max(total, 1):.2f}%)" + (f", LoRA r={cfg.lora.r}" if cfg.lora.enabled else ""))
    return model, tokenizer


def wants_cpu(cfg: Config) -> bool:
    """CPU when asked, or when no accelerator exists (then multi-process runs use gloo: MULTI_CPU)."""
    import torch

    if cfg.model.device == "cpu":
        return True
    mps = getattr(torch.backends, "mps", None)
    return cfg.model.device == "auto" and not torch.cuda.is_available() and not (mps and mps.is_available())


def check_environment(cfg: Config) -> None:
    """Fail before anything is written when the config asks for hardware or packages that are missing."""
    import torch

    if cfg.model.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("model.device='cuda' but no CUDA device is available; use auto or cpu")
    if cfg.model.load_in_4bit:
        four_bit_config()
    check_precision(cfg)
    check_launcher()


def check_precision(cfg: Config) -> None:
    """Weight dtype × autocast combinations that cannot train, as one-line errors. fp16 autocast scales the loss
    and unscales float32 gradients (half-precision weights have half-precision gradients, which it refuses);
    bf16 autocast over float16 weights mixes two half formats."""
    from alignlab.models.loading import resolve_dtype

    mixed, dtype = cfg.train.mixed_precision, resolve_dtype(cfg.model.dtype, cfg.model.device)
    name = str(dtype).removeprefix("torch.")
    if mixed == "fp16" and name != "float32" and not cfg.model.load_in_4bit:
        raise ConfigError(f"train.mixed_precision='fp16' needs float32 weights, but model.dtype="
                          f"'{cfg.model.dtype}' gives {name}; set model.dtype=float32, or "
                          f"train.mixed_precision=no to train in {name} itself")
    if mixed == "bf16" and name == "float16":
        raise ConfigError("train.mixed_precision='bf16' with model.dtype='float16' mixes two half formats; "
                          "use model.dtype=float32 or bfloat16")


def check_launcher() -> None:
    """A sharded launch (accelerate's FSDP or DeepSpeed config) that this machine cannot run, as a one-line error
    instead of a traceback from inside accelerate."""
    import importlib.util
    import os

    import torch

    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    if (fsdp or deepspeed) and not torch.cuda.is_available():
        raise ConfigError(f"this launch asks for {'FSDP' if fsdp else 'DeepSpeed'}, which accelerate runs only on "
                          "GPUs; on CPU use configs/accelerate/ddp.yaml or `accelerate launch --cpu --num_processes N`")
    if deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("this launch asks for DeepSpeed, but the deepspeed package is not installed: "
                          "pip install deepspeed (or use configs/accelerate/fsdp.yaml)")


def make_accelerator(cfg: Config, run_path: Path | None):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import ProjectConfiguration

    # accelerate keeps one state per process: a run earlier in this process (a built-in model built on first use,
    # an earlier sweep cell) fixed its precision, and a new Accelerator with another one raised "already been
    # initialized". That earlier run has finished, so its state is dropped (the process group is kept).
    done = AcceleratorState._shared_state.get("_mixed_precision")
    if done is not None and str(done) != cfg.train.mixed_precision:
        AcceleratorState._reset_state()

    trackers = cfg.logging.report_to if run_path is not None else []
    project = (ProjectConfiguration(project_dir=str(run_path), logging_dir=str(run_path / "tensorboard"))
               if run_path else None)
    return Accelerator(cpu=wants_cpu(cfg), mixed_precision=cfg.train.mixed_precision,
                       log_with=trackers or None, project_config=project)


def agreed_run_path(cfg: Config, resume: Path | None) -> Path:
    """One run directory for all processes: rank 0 picks the timestamped name and broadcasts it."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    state = PartialState(cpu=wants_cpu(cfg))
    path = [str(resume if resume is not None else new_run_name(cfg))]
    if state.num_processes > 1:
        broadcast_object_list(path, from_process=0)
    return Path(path[0])


def open_run_dir(cfg: Config, path: Path, command: str, resuming: bool, is_main: bool) -> RunDir:
    if not is_main:
        return RunDir(path)
    return open_run(path) if resuming else create_run(path, cfg, command)


def reference_strategy(cfg: Config, model, mode: str | None = None) -> ReferenceStrategy:
    """The strategy that produces reference log-probs (for precomputed: the one run before training).

    The reference adapter is `ref.adapter`, or the adapter folder the policy itself starts from (study D).
    `mode` is the resolved ref.mode (default: `cfg.reference_mode`).
    """
    mode = mode or cfg.reference_mode
    if mode == "ema":
        return EMAAnchor(model, cfg.ref.ema_mu)
    if mode == "adapter_off":
        return AdapterOff()  # the base model, whatever adapter the policy starts from
    source = resolve_model(cfg.model)
    starts_from_adapter = cfg.lora.enabled and adapter_base(source.name_or_path)
    adapter = cfg.ref.adapter or (source.name_or_path if starts_from_adapter else None)
    if mode == "copy":
        if adapter:
            source = source.model_copy(update={"name_or_path": adapter})
        return FrozenCopy(load_model(source))
    if adapter:
        model.load_adapter(adapter, adapter_name=REFERENCE_ADAPTER, is_trainable=False)
        return NamedAdapter(REFERENCE_ADAPTER)
    return AdapterOff() if cfg.lora.enabled else PolicyAtStart()


def start_trackers(cfg: Config, acc, run: RunDir) -> None:
    """Start `logging.report_to`'s trackers with the resolved config as hyperparameters (TensorBoard hparams, the
    wandb config, mlflow params). A tracker that cannot start stops the run before training on every process
    alike, in one line (exit 2), with the run marked failed."""
    if not cfg.logging.report_to:
        return
    from accelerate.utils import broadcast_object_list

    error = [None]
    if acc.is_main_process:
        try:
            acc.init_trackers("alignlab", config=hyperparameters(cfg),
                              init_kwargs={"wandb": {"name": run.path.name}, "mlflow": {"run_name": run.path.name}})
        except Exception as exc:  # any tracker's own error: reported in one line, never a dead rank
            first = (str(exc).strip().splitlines() or [""])[0]
            error[0] = f"{type(exc).__name__}: {first}"
            for tracker in acc.trackers:  # the ones that did start; the failed one may be half-made
                with suppress(Exception):
                    tracker.finish()
            acc.trackers = []
    if acc.num_processes > 1:
        broadcast_object_list(error, from_process=0)
    if error[0]:
        close_run(acc, run, "failed")
        raise ConfigError(f"logging.report_to={cfg.logging.report_to}: a tracker could not start ({error[0]}); fix "
                          f"its settings or leave it out of logging.report_to")


def hyperparameters(cfg: Config) -> dict[str, str | int | float | bool]:
    """The resolved config as flat `section.field` → scalar, for the trackers (`config.loader.flat_config`)."""
    from alignlab.config.loader import flat_config

    return flat_config(cfg)


def check_resume_config(cfg: Config, run_dir: Path, accept_changes: bool) -> None:
    """A resumed run's config.yaml must still say what its newest checkpoint was trained with: a changed field
    outside RESUME_OVERRIDABLE (a hand edit, or an override under --accept-config-change) stops the run in one line
    naming the fields, unless `accept_changes` (then the changes are recorded in the manifest's
    `accepted_config_changes` and take effect from the resumed step on)."""
    from alignlab.config.loader import RESUME_OVERRIDABLE, flat_config
    from alignlab.training import checkpoint as ckpt

    recorded = [c for c in ckpt.list_checkpoints(run_dir / "checkpoints") if (c / "config.json").is_file()]
    if not recorded:
        return
    try:
        changed = ckpt.changed_settings(recorded[-1], flat_config(cfg), RESUME_OVERRIDABLE)
    except ValueError:  # an unreadable config.json: the checkpoint's verification will name it
        return
    if changed and not accept_changes:
        shown = ", ".join(f"{k} {then} → {now}" for k, (then, now) in list(changed.items())[:6])
        raise ConfigError(f"--resume: the run's settings differ from what {recorded[-1].name} was trained with "
                          f"({shown}{', …' if len(changed) > 6 else ''}); undo the change, or pass "
                          "--accept-config-change to continue with it (recorded in the manifest)")
    if changed:
        run = RunDir(run_dir)
        run.update_manifest(accepted_config_changes=[
            *run.manifest().get("accepted_config_changes", []),
            {"checkpoint": recorded[-1].name, "changes": {k: {"was": a, "now": b} for k, (a, b) in changed.items()}}])
        console.print(f"[yellow]note:[/yellow] resuming with changed settings: {', '.join(changed)}", highlight=False)


@contextmanager
def status_on_error(acc, run):
    """A run that stops with an exception is marked `interrupted` (a signal, also a second Ctrl-C or one outside
    the training loop) or `failed` before it propagates."""
    from alignlab.training.signals import Interrupted

    try:
        yield
    except (Interrupted, KeyboardInterrupt):
        close_run(acc, run, "interrupted")
        raise
    except Exception:
        close_run(acc, run, "failed")
        raise


def save_final(acc, model, tokenizer, run, extras) -> None:
    acc.wait_for_everyone()
    state = gathered_state_dict(acc, model)  # every process takes part: under FSDP / ZeRO-3 it is a collective
    if acc.is_main_process:
        with atomic_dir(run.final) as tmp:
            full = {} if state is None else {"state_dict": state}
            acc.unwrap_model(model).save_pretrained(tmp, safe_serialization=True, **full)
            tokenizer.save_pretrained(tmp)
            extras(Path(tmp))
            write_checksums(tmp)  # eval and report warn when final/ no longer matches
    acc.wait_for_everyone()


def gathered_state_dict(acc, model) -> dict | None:
    """The full weights of a sharded model (FSDP with a FULL_STATE_DICT config, DeepSpeed ZeRO-3 with
    zero3_save_16bit_model), gathered on the main process, so final/ is one plain `save_pretrained` folder; None
    where each process already holds the whole model (one process, DDP), which saves the module as it is."""
    from accelerate.utils import DistributedType

    if acc.distributed_type not in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        return None
    return acc.get_state_dict(model)


def finish_diagnostics(cfg: Config, acc, run) -> dict | None:
    """Over-fitting and reward-hacking flags of the finished run: diagnostics.json, printed."""
    if not acc.is_main_process:
        return None
    from alignlab.evaluation.diagnostics import Thresholds, diagnose
    from alignlab.runs.atomic import atomic_write_json
    from alignlab.runs.metrics import read_metrics

    e = cfg.eval
    result = diagnose(read_metrics(run.metrics_file), Thresholds(e.overfit_tolerance, e.hacking_tolerance,
                                                                  e.diversity_floor))
    atomic_write_json(run.path / "diagnostics.json", result)
    for flag in result["flags"]:
        console.print(f"[yellow]flag {flag['kind']}:[/yellow] {flag['message']}")
    if not result["flags"]:
        console.print("diagnostics: no over-fitting or reward-hacking flag (diagnostics.json)")
    return result


def close_run(acc, run, status: str) -> None:
    """Mark the run `status` and end its trackers. On the way out of an error this must not raise itself (a full
    disk cannot take the manifest either): the original error is the one reported."""
    if acc.is_main_process:
        try:
            run.finish(status)
        except OSError as exc:
            console.print(f"[yellow]warning:[/yellow] could not mark {run.path} {status}: {exc}", highlight=False)
    with suppress(Exception):
        acc.end_training()
