"""Resumable checkpoints: checkpoints/step-N/ holds everything a run needs to continue exactly.

    model.safetensors    trainable weights (all weights for full fine-tuning; adapters with LoRA)
    optimizer.pt         optimizer state dict (loaded with weights_only=True)
    scheduler.pt         scheduler state dict (loaded with weights_only=True)
    rng-R.json / rng-R.safetensors   Python, NumPy and torch RNG states of process R
    state.json           step, epoch, position in the epoch (micro-batches consumed), loop extras (e.g. the
                         online loop's β and baseline)
    NAME.safetensors     trainable weights of each extra module (e.g. PPO's critic as `critic`), or the
                         `checkpoint_state()` of an extra that defines one (e.g. the EMA anchor)
    config.json          the run's settings when it was written, flat (`section.field` → value): a resume
                         compares them with the run's config.yaml
    checksums.json       size and SHA-256 of every other file, and the step it claims; written last

Each folder is staged and renamed into place, so a crash never leaves a half-written checkpoint. A resume
verifies the newest checkpoint against its checksums and falls back to the one before when it is damaged
(`resume_point`).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from alignlab.config import ConfigError
from alignlab.runs.atomic import atomic_dir, atomic_write_json, verify_checksums, write_checksums
from alignlab.runs.progress import console


class DamagedCheckpoint(ConfigError):
    """No checkpoint of a run could be verified or loaded; the message names each one and what is wrong."""


@dataclass
class LoopState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    extra: dict = field(default_factory=dict)
    """JSON-serialisable loop state beyond the weights (the online loop's KL coefficient and baseline)."""


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(folder: Path, model, optimizer, scheduler, state: LoopState, accelerator,
                    extras: dict | None = None, config: dict | None = None) -> None:
    """Write step-N atomically. Every process writes its RNG state; the main process writes the rest.
    `extras` maps a name to another trained module, saved as NAME.safetensors; `config` is the run's flat
    settings (config.json)."""
    accelerator.wait_for_everyone()
    rank = accelerator.process_index
    staging_parent = folder.parent / f".{folder.name}.ranks"
    try:
        _save_rng(staging_parent, rank)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            with atomic_dir(folder) as tmp:
                save_file(trainable_state(accelerator.unwrap_model(model)), str(tmp / "model.safetensors"))
                for name, module in (extras or {}).items():
                    save_file(_extra_state(module, accelerator), str(tmp / f"{name}.safetensors"))
                torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
                torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
                for f in staging_parent.iterdir():
                    shutil.move(str(f), tmp / f.name)
                if config is not None:
                    atomic_write_json(tmp / "config.json", config)
                atomic_write_json(tmp / "state.json", asdict(state) | {"world_size": accelerator.num_processes})
                write_checksums(tmp, claims={"step": state.step, "epoch": state.epoch,
                                             "batch_in_epoch": state.batch_in_epoch})
    finally:  # a failed write (a full disk) leaves no staging folder behind
        if accelerator.is_main_process:
            shutil.rmtree(staging_parent, ignore_errors=True)
    accelerator.wait_for_everyone()


def checkpoint_problems(folder: Path) -> list[str]:
    """What is wrong with checkpoint `folder` (empty: intact): files against checksums.json, and state.json
    against the step its folder names. A checkpoint written before checksums existed is checked for its files
    and state only."""
    problems = verify_checksums(folder)
    if problems is None:  # no record: an older checkpoint
        problems = [f"{n} is missing" for n in ("model.safetensors", "optimizer.pt", "scheduler.pt")
                    if not (folder / n).is_file()]
    if problems:
        return problems
    try:
        info = json.loads((folder / "state.json").read_text())
        step, epoch, position = info["step"], info["epoch"], info["batch_in_epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["state.json is unreadable"]
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (step, epoch, position))
    if not ints or min(step, epoch, position) < 0 or f"step-{step}" != folder.name:
        return [f"state.json claims step {step}, epoch {epoch}, position {position} (folder {folder.name})"]
    return []


def resume_point(checkpoints: Path, announce: bool = True) -> Path | None:
    """The newest intact checkpoint under `checkpoints`; damaged newer ones are named and skipped. None when there
    is none at all (the run starts over); a `DamagedCheckpoint` error when every one is damaged."""
    damaged = []
    for folder in reversed(list_checkpoints(checkpoints)):
        problems = checkpoint_problems(folder)
        if not problems:
            if damaged and announce:
                console.print(f"[yellow]warning:[/yellow] {'; '.join(damaged)}: resuming from {folder.name} instead",
                              highlight=False)
            return folder
        damaged.append(f"checkpoint {folder.name} is damaged ({', '.join(problems[:3])})")
    if damaged:
        raise DamagedCheckpoint(f"no intact checkpoint in {checkpoints}: {'; '.join(damaged)}; move the checkpoints "
                                "folder away to start the run over")
    return None


def changed_settings(folder: Path, current: dict, allowed: tuple[str, ...]) -> dict[str, tuple]:
    """Settings (flat `section.field`) whose value in `current` differs from the checkpoint's config.json, except
    those starting with one of `allowed`: field → (then, now). Empty for a checkpoint without config.json."""
    file = folder / "config.json"
    if not file.exists():
        return {}
    then = json.loads(file.read_text())
    return {k: (then.get(k), current.get(k)) for k in sorted(set(then) | set(current))
            if then.get(k) != current.get(k) and not k.startswith(allowed)}


def load_checkpoint(folder: Path, model, optimizer, scheduler, accelerator, extras: dict | None = None) -> LoopState:
    """Load everything `save_checkpoint` wrote; a file that will not load is a `DamagedCheckpoint` error in one
    line (a checkpoint with checksums was verified before: see `resume_point`)."""
    try:
        return _load_checkpoint(folder, model, optimizer, scheduler, accelerator, extras)
    except ConfigError:
        raise
    except Exception as exc:  # torch, safetensors and JSON each raise their own kinds for a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DamagedCheckpoint(f"checkpoint {folder} cannot be loaded ({type(exc).__name__}: {first}); remove "
                                "it to resume from the one before") from exc


def _load_checkpoint(folder: Path, model, optimizer, scheduler, accelerator, extras: dict | None) -> LoopState:
    _load_weights(folder / "model.safetensors", accelerator.unwrap_model(model))
    for name, module in (extras or {}).items():
        if hasattr(module, "load_checkpoint_state"):
            module.load_checkpoint_state(load_file(str(folder / f"{name}.safetensors")))
        else:
            _load_weights(folder / f"{name}.safetensors", accelerator.unwrap_model(module))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    _load_rng(folder, accelerator.process_index)
    info = json.loads((folder / "state.json").read_text())
    if info.get("world_size", 1) != accelerator.num_processes:
        raise ConfigError(f"checkpoint {folder} was written by {info['world_size']} processes; "
                         f"resume with the same number (now {accelerator.num_processes})")
    return LoopState(step=info["step"], epoch=info["epoch"], batch_in_epoch=info["batch_in_epoch"],
                     extra=info.get("extra", {}))


def _extra_state(module, accelerator) -> dict[str, torch.Tensor]:
    if hasattr(module, "checkpoint_state"):
        return module.checkpoint_state()
    return trainable_state(accelerator.unwrap_model(module))


def _load_weights(file: Path, module: torch.nn.Module) -> None:
    weights = load_file(str(file))
    missing = set(weights) - {n for n, _ in module.named_parameters()}
    if missing:
        raise ValueError(f"checkpoint {file.parent} has weights the model lacks: {sorted(missing)[:3]}")
    module.load_state_dict(weights, strict=False)


def latest_checkpoint(checkpoints: Path) -> Path | None:
    steps = list_checkpoints(checkpoints)
    return steps[-1] if steps else None


def list_checkpoints(checkpoints: Path) -> list[Path]:
    if not checkpoints.is_dir():
        return []
    done = [p for p in checkpoints.glob("step-*") if (p / "state.json").exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def prune_checkpoints(checkpoints: Path, keep: int) -> None:
    for old in list_checkpoints(checkpoints)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _save_rng(folder: Path, rank: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    py = random.getstate()
    np_state = np.random.get_state()
    atomic_write_json(folder / f"rng-{rank}.json", {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    })
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(folder / f"rng-{rank}.safetensors"))


def _load_rng(folder: Path, rank: int) -> None:
    states = json.loads((folder / f"rng-{rank}.json").read_text())
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    tensors = load_file(str(folder / f"rng-{rank}.safetensors"))
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])
