"""LoRA through peft: only adapter weights (and `modules_to_save`) train; everything else is frozen."""

from __future__ import annotations

from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import PreTrainedModel

from alignlab.config.common import LoraConfig


def apply_lora(model: PreTrainedModel, cfg: LoraConfig, quantized: bool = False, checkpointing: bool = False,
               task_type: str = "CAUSAL_LM"):
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_cfg = PeftLoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.target_modules,
        modules_to_save=cfg.modules_to_save or None, task_type=task_type, bias="none",
    )
    model = get_peft_model(model, peft_cfg)
    if checkpointing:
        # With frozen embeddings the checkpointed blocks would see inputs without grad and skip backward.
        model.enable_input_require_grads()
    return model


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
