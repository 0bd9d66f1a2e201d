"""Load any causal LM the same way: Hub id, local folder, GGUF file, or a saved LoRA adapter folder."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from alignlab.config.common import ModelConfig
from alignlab.config.errors import ConfigError
from alignlab.models.builtin import builtin_path, is_builtin
from alignlab.models.gguf import ensure_converted, gguf_spec
from alignlab.models.kernels import fuse_activations, route_linear_to_onednn


def plain_source(cfg: ModelConfig) -> str:
    """What transformers loads for `cfg`: a GGUF file (`x.gguf`, or a folder / repo plus `model.gguf_file`) stands
    for its converted plain folder (`models/gguf.py`), anything else is `name_or_path` itself."""
    return str(ensure_converted(cfg)) if gguf_spec(cfg) else cfg.name_or_path


HEADS = {
    "causal_lm": (AutoModelForCausalLM, {}),
    "reward": (AutoModelForSequenceClassification, {"num_labels": 1}),  # one scalar per sequence
    "classifier": (AutoModelForSequenceClassification, {}),
    "backbone": (AutoModel, {}),  # hidden states only (e.g. the body of PPO's separate critic)
}
"""What sits on top of the backbone: a language-model head, a fresh scalar reward head, a saved classifier, or
nothing."""


def model_source(spec: str) -> str:
    """`builtin:NAME` stands for its cache folder (built at the command's entry), a `.gguf` file for its converted
    folder, a run directory for its `final/` folder; anything else is returned unchanged."""
    if is_builtin(spec):
        return str(builtin_path(spec))
    if spec.endswith(".gguf") or spec.startswith("gguf:"):
        return str(ensure_converted(ModelConfig(name_or_path=spec)))
    p = Path(spec)
    if (p / "final").is_dir() and (p / "config.yaml").exists():
        return str(p / "final")
    if (p / "config.yaml").exists():
        raise FileNotFoundError(f"run '{p}' has no final/ model yet (did it finish? resume it with --resume)")
    return spec


def adapter_base(path: str) -> str | None:
    """The base model named by a peft adapter folder, or None when `path` is not an adapter."""
    cfg_file = Path(path) / "adapter_config.json"
    if not cfg_file.is_file():
        return None
    return json.loads(cfg_file.read_text())["base_model_name_or_path"]


def resolve_dtype(name: str, device: str) -> torch.dtype:
    if name != "auto":
        return getattr(torch, name)
    on_gpu = device in ("cuda", "auto") and torch.cuda.is_available()
    return torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    source = plain_source(cfg)
    if cfg.tokenizer:
        source = model_source(cfg.tokenizer)
    elif adapter_base(source):
        source = _adapter_tokenizer(source)
    with _readable_load_errors(source):
        tok = AutoTokenizer.from_pretrained(source, revision=cfg.revision,
                                            trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token_id is None:
        # Many Hub causal LMs ship without a pad token; EOS is the usual stand-in (masks keep it out of the loss).
        tok.pad_token = tok.eos_token
    return tok


def _adapter_tokenizer(adapter_dir: str) -> str:
    """Adapters saved by alignlab carry their tokenizer; otherwise use the base model's."""
    return adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").exists() else adapter_base(adapter_dir)


def load_model(cfg: ModelConfig, trainable_adapter: bool = False, head: str = "causal_lm") -> PreTrainedModel:
    """Load weights. An adapter folder loads its base first, then the adapter (trainable if asked)."""
    source = plain_source(cfg)
    base = adapter_base(source)
    auto_class, head_kwargs = HEADS[head]
    kwargs = _load_kwargs(cfg) | head_kwargs
    with _readable_load_errors(base or source):
        model = auto_class.from_pretrained(base or source, **kwargs)
    if base:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, source, is_trainable=trainable_adapter)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.fused_kernels:
        fuse_activations(model)
    if cfg.onednn_linear:
        route_linear_to_onednn(model)
    if cfg.compile:
        model.compile(dynamic=True)  # in place: the module's call goes through the compiled forward
    return model


def position_limit(model) -> int | None:
    """The most positions the model's config allows (None when it names no limit)."""
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@contextmanager
def _readable_load_errors(source: str):
    """A missing folder, an unknown Hub id or no network: one line naming the model, not a traceback."""
    try:
        yield
    except OSError as exc:
        where = "local path" if Path(source).exists() else "Hub id (or path that does not exist)"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"model.name_or_path: cannot load {where} '{source}': {first}") from None


def _load_kwargs(cfg: ModelConfig) -> dict:
    kwargs: dict = {"dtype": resolve_dtype(cfg.dtype, cfg.device), "revision": cfg.revision,
                    "trust_remote_code": cfg.trust_remote_code}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.load_in_4bit:
        kwargs["quantization_config"] = four_bit_config()
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return kwargs


def four_bit_config():
    """NF4 quantisation; a clear error where CUDA or bitsandbytes is missing."""
    import importlib.util

    if not torch.cuda.is_available():
        raise ConfigError("model.load_in_4bit=true needs a CUDA GPU; none is available here")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("model.load_in_4bit=true needs bitsandbytes: pip install 'alignlab[quant]'")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Every dropout layer (the model's and LoRA's) to p = 0; returns the model."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def load_full_model(cfg: ModelConfig) -> PreTrainedModel:
    """A plain (non-peft) model: a LoRA adapter folder is loaded on its base and merged into it (peft
    `merge_and_unload`), so adapters and full models merge as full weights."""
    model = load_model(cfg)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model
