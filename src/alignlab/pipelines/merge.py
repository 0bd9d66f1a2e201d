"""`alignlab merge`: merge saved models into one `save_pretrained` folder; `alignlab export`: one model as a plain
folder.

Sources are anything `model.name_or_path` accepts (folders, run directories, LoRA adapter folders, builtin:…).
Adapters are merged into their base first (`load_full_model`), so every method works on full weights; the
result is a full model. Methods (`models.merge.MERGE_METHODS`): linear (weighted average of weights),
task_arithmetic (base + weighted sum of task vectors), slerp (WARP: per-tensor SLERP of task vectors; needs
--base) and liti (base moved η of the way to one model). The recipe and the mean angle between the task vectors
go to merge.json next to the weights.

`export` writes any model spec (a run, a LoRA adapter, a `.gguf` file, builtin:…) as a plain full-weight folder that
`AutoModelForCausalLM.from_pretrained` loads with no peft and no GGUF reader; export.json records where it came from.
"""

from __future__ import annotations

from pathlib import Path

from alignlab.config import ConfigError
from alignlab.config.common import ModelConfig
from alignlab.models.loading import load_full_model, load_tokenizer
from alignlab.models.merge import MERGE_METHODS, StateDict, mean_task_vector_angle, snapshot
from alignlab.pipelines.common import resolve_model
from alignlab.runs.atomic import atomic_dir, atomic_write_json


def load_state(spec: str, template: ModelConfig) -> StateDict:
    """The full weights of a model spec (adapters merged), as a detached state dict."""
    return snapshot(load_full(spec, template)[0])


def load_full(spec: str, template: ModelConfig):
    """(full model, tokenizer) of a model spec; a LoRA adapter is merged into its base."""
    mcfg = resolve_model(template.model_copy(update={"name_or_path": spec, "gguf_file": None, "tokenizer": None}))
    return load_full_model(mcfg), load_tokenizer(mcfg)


def save_merged(model, tokenizer, state: StateDict, out: Path, info: dict) -> Path:
    """Load `state` into `model` and write it (weights, tokenizer, merge.json) atomically to `out`."""
    model.load_state_dict(state)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(Path(tmp) / "merge.json", info)
    return out


def merge_models(models: list[str], method: str, out: Path, base: str | None = None,
                 weights: list[float] | None = None, lam: float = 0.5, eta: float = 0.5,
                 template: ModelConfig | None = None) -> dict:
    """Merge `models` (and `base` for task-vector methods) with `method`; returns merge.json's content."""
    if method not in MERGE_METHODS:
        raise ConfigError(f"--method {method}: allowed: {', '.join(MERGE_METHODS)}")
    if Path(out).exists():
        raise ConfigError(f"--out {out} exists; choose a new folder")
    template = template or ModelConfig()
    first, tokenizer = load_full(models[0], template)
    thetas = [snapshot(first)] + [load_state(s, template) for s in models[1:]]
    init = load_state(base, template) if base else None
    try:
        merged = MERGE_METHODS[method](init, thetas, weights, lam, eta)
    except ValueError as exc:
        raise ConfigError(f"merge {method}: {exc}") from None
    info = {"method": method, "models": models, "base": base, "weights": weights, "lam": lam, "eta": eta}
    if init is not None and len(thetas) > 1:
        info["mean_task_vector_angle_deg"] = round(mean_task_vector_angle(init, thetas) * 180 / 3.141592653589793, 3)
    save_merged(first, tokenizer, merged, Path(out), info)
    return info | {"out": str(out)}


def export_model(spec: str, out: Path, template: ModelConfig | None = None) -> dict:
    """Write `spec` as a plain `save_pretrained` folder (adapter merged into its base) at `out` (a new folder)."""
    if Path(out).exists():
        raise ConfigError(f"--out {out} exists; choose a new folder")
    model, tokenizer = load_full(spec, template or ModelConfig())
    info = {"source": spec, "resolved": resolve_model(ModelConfig(name_or_path=spec)).name_or_path}
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(Path(tmp) / "export.json", info)
    return info | {"out": str(out), "parameters": sum(p.numel() for p in model.parameters())}
