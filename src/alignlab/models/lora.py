"""LoRA through peft: only adapter weights (and `modules_to_save`) train; everything else is frozen."""

from __future__ import annotations

from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import PreTrainedModel

from alignlab.config.common import LoraConfig
from alignlab.config.errors import ConfigError


def apply_lora(model: PreTrainedModel, cfg: LoraConfig, quantized: bool = False, checkpointing: bool = False,
               task_type: str = "CAUSAL_LM"):
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    _check_targets(model, cfg)
    peft_cfg = PeftLoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.target_modules,
        modules_to_save=cfg.modules_to_save or None, task_type=task_type, bias="none",
    )
    model = get_peft_model(model, peft_cfg)
    if checkpointing:
        # With frozen embeddings the checkpointed blocks would see inputs without grad and skip backward.
        model.enable_input_require_grads()
    return model


def linear_module_names(model) -> list[str]:
    """The distinct last names of the model's linear layers (what `lora.target_modules` may name)."""
    import torch

    linear = (torch.nn.Linear, torch.nn.Conv1d)
    try:
        from transformers.pytorch_utils import Conv1D
        linear = (*linear, Conv1D)
    except ImportError:  # pragma: no cover - older transformers
        pass
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n and isinstance(m, linear)})


def _check_targets(model, cfg: LoraConfig) -> None:
    """Unknown `lora.target_modules` names fail in one line that lists the model's linear layers."""
    if cfg.target_modules == "all-linear":
        return
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n} | {n for n, _ in model.named_modules()}
    unknown = [t for t in [*cfg.target_modules, *cfg.modules_to_save] if t not in names]
    if unknown:
        raise ConfigError(f"lora.target_modules / lora.modules_to_save: {', '.join(unknown)} not in this model; its "
                          f"linear layers: {', '.join(linear_module_names(model))}")


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameter counts, tied weights counted once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
