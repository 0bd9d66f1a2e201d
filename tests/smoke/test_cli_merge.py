"""`alignlab merge` on saved models: linear and SLERP give the formulas' weights in a loadable folder, a LoRA
adapter is merged into its base first, and bad requests are one-line errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file
from tests.conftest import MICRO, invoke_cli
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignlab.models.merge import slerp_merge

NAME = "transformer.h.0.mlp.c_fc.weight"


@pytest.fixture(scope="module")
def models(alignlab_home, tmp_path_factory):
    """The micro model and two perturbed copies, saved as plain folders, plus a LoRA adapter on it."""
    from alignlab.models.builtin import cache_dir

    root, base = tmp_path_factory.mktemp("merge"), cache_dir(MICRO)
    tok = AutoTokenizer.from_pretrained(base)
    out = {"base": base}
    for i, name in enumerate(("a", "b"), start=1):
        model = AutoModelForCausalLM.from_pretrained(base)
        torch.manual_seed(i)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = root / name
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                          LoraConfig(r=2, lora_alpha=4, target_modules=["c_fc"], lora_dropout=0.0))
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)  # lora_B starts at 0: make the adapter do something
    lora.save_pretrained(root / "adapter")
    out["adapter"], out["adapter_merged"] = root / "adapter", lora.merge_and_unload().state_dict()
    return out


def _w(folder) -> dict:
    return load_file(str(folder / "model.safetensors"))


def test_linear_merge_with_weights(models, tmp_path):
    invoke_cli("merge", str(models["a"]), str(models["b"]), "--method", "linear", "--weights", "0.25,0.75",
               "-o", str(tmp_path / "m"))
    expected = 0.25 * _w(models["a"])[NAME] + 0.75 * _w(models["b"])[NAME]
    torch.testing.assert_close(_w(tmp_path / "m")[NAME], expected)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "m") is not None
    assert (tmp_path / "m" / "tokenizer.json").exists()


def test_slerp_merge_on_task_vectors_records_the_angle(models, tmp_path):
    out = invoke_cli("merge", str(models["a"]), str(models["b"]), "--method", "slerp", "--base", str(models["base"]),
                     "-o", str(tmp_path / "s")).output
    expected = slerp_merge(_w(models["base"]), [_w(models["a"]), _w(models["b"])], 0.5)
    torch.testing.assert_close(_w(tmp_path / "s")[NAME], expected[NAME])
    info = json.loads((tmp_path / "s" / "merge.json").read_text())
    # independent random perturbations are close to orthogonal
    assert info["method"] == "slerp" and 80 < info["mean_task_vector_angle_deg"] < 100
    assert "mean angle between task vectors" in out


def test_an_adapter_is_merged_into_its_base_first(models, tmp_path):
    invoke_cli("merge", str(models["adapter"]), "--method", "liti", "--eta", "1.0", "--base", str(models["base"]),
               "-o", str(tmp_path / "l"))
    torch.testing.assert_close(_w(tmp_path / "l")[NAME], models["adapter_merged"][NAME])
    assert not any("lora" in k for k in _w(tmp_path / "l"))
    assert not math.isclose(float(_w(tmp_path / "l")[NAME].sum()), float(_w(models["base"])[NAME].sum()))


@pytest.mark.parametrize("args,message", [
    (["--method", "slerp"], "--base"),
    (["--method", "nope"], "allowed: linear"),
    (["--method", "linear", "--weights", "a,b"], "--weights"),
])
def test_bad_requests_are_one_line_errors(models, tmp_path, args, message):
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    out = CliRunner().invoke(app, ["merge", str(models["a"]), str(models["b"]), *args, "-o", str(tmp_path / "x")])
    assert out.exit_code == 2 and message in out.output
    assert not (tmp_path / "x").exists()


def test_export_writes_a_lora_run_as_a_plain_full_weight_folder(alignlab_home, tmp_path):
    """`alignlab export` without the GGUF package: a LoRA run of the micro model, merged into its base."""
    from tests.conftest import FAST, invoke_cli
    from transformers import AutoModelForCausalLM

    run = tmp_path / "lora"
    invoke_cli("train", "sft", *FAST, "lora.r=4", "train.max_steps=2", f"run_dir={run}")
    invoke_cli("export", str(run), "-o", str(tmp_path / "plain"))
    assert not (tmp_path / "plain" / "adapter_config.json").exists()
    assert (tmp_path / "plain" / "export.json").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert not hasattr(model, "peft_config")
