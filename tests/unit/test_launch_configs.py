"""The shipped accelerate launcher configs, and the precision and launcher checks that run before a run starts."""

from __future__ import annotations

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

from alignlab.config import load_config
from alignlab.config.errors import ConfigError
from alignlab.config.presets import ACCELERATE_DIR, list_presets
from alignlab.pipelines.common import check_launcher, check_precision


def test_each_accelerate_config_loads_with_accelerates_own_reader_and_says_what_it_shards():
    configs = {p.stem: load_config_from_file(str(p)) for p in sorted(ACCELERATE_DIR.glob("*.yaml"))}
    assert set(configs) == {"ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"}
    assert configs["ddp"].distributed_type == DistributedType.MULTI_GPU
    fsdp = configs["fsdp"]
    assert fsdp.distributed_type == DistributedType.FSDP and fsdp.fsdp_config["fsdp_version"] == 2
    # each transformer block its own unit (the model's _no_split_modules), and a full state dict for final/
    assert fsdp.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    for stage in (2, 3):
        ds = configs[f"deepspeed_zero{stage}"]
        assert ds.distributed_type == DistributedType.DEEPSPEED and ds.deepspeed_config["zero_stage"] == stage
    assert configs["deepspeed_zero3"].deepspeed_config["zero3_save_16bit_model"] is True
    assert not any(name.startswith("accelerate/") for name in list_presets())  # launcher files are not presets


@pytest.mark.parametrize("overrides, words", [
    (["train.mixed_precision=fp16", "model.dtype=bfloat16"], "needs float32 weights"),
    (["train.mixed_precision=fp16", "model.dtype=float16"], "needs float32 weights"),
    (["train.mixed_precision=bf16", "model.dtype=float16"], "mixes two half formats"),
])
def test_precision_combinations_that_cannot_train_are_one_line_errors(overrides, words):
    with pytest.raises(ConfigError, match=words) as err:
        check_precision(load_config("sft/reviews-tiny", overrides))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("overrides", [["train.mixed_precision=fp16", "model.dtype=float32"],
                                       ["train.mixed_precision=bf16", "model.dtype=float32"],
                                       ["train.mixed_precision=bf16", "model.dtype=bfloat16"],
                                       ["train.mixed_precision=no", "model.dtype=float16"],
                                       ["train.mixed_precision=fp16", "model.device=cpu"]])  # auto → float32 on CPU
def test_precision_combinations_that_train_are_accepted(overrides):
    check_precision(load_config("sft/reviews-tiny", overrides))


@pytest.mark.parametrize("env, words", [({"ACCELERATE_USE_FSDP": "true"}, "FSDP, which accelerate runs only on GPUs"),
                                        ({"ACCELERATE_USE_DEEPSPEED": "true"}, "DeepSpeed")])
def test_a_sharded_launch_without_gpus_is_a_one_line_error(monkeypatch, env, words):
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only message")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=words):
        check_launcher()


def test_a_bare_no_in_yaml_or_an_override_means_no_mixed_precision():
    assert load_config("sft/reviews-tiny", ["train.mixed_precision=no"]).train.mixed_precision == "no"


def test_a_plain_launch_passes_the_launcher_check(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    check_launcher()


def test_a_second_run_in_one_process_may_use_another_precision():
    """A built-in model built on first use trains in this process before the user's run: a bf16 run after it
    raised accelerate's "already been initialized" (found 2026-12-07)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from alignlab.pipelines.common import make_accelerator

    try:
        Accelerator(cpu=True, mixed_precision="no")
        acc = make_accelerator(load_config("sft/reviews-tiny", ["train.mixed_precision=bf16", "model.device=cpu",
                                                                "logging.report_to=[]"]), None)
        assert acc.mixed_precision == "bf16"
    finally:
        AcceleratorState._reset_state()


class _ShardedAccelerator:
    """What save_final sees under FSDP: a module whose local weights are shards, and get_state_dict, which
    gathers the full ones (here: a known full state dict)."""

    def __init__(self, full: dict, kind):
        self.full, self.distributed_type, self.is_main_process, self.gathered = full, kind, True, 0

    def wait_for_everyone(self):
        pass

    def unwrap_model(self, model):
        return model

    def get_state_dict(self, model):
        self.gathered += 1
        return self.full


@pytest.mark.parametrize("kind", ["FSDP", "DEEPSPEED", "MULTI_CPU"])
def test_final_folder_of_a_sharded_run_holds_the_gathered_full_weights(tmp_path, kind):
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from alignlab.pipelines.common import save_final
    from alignlab.runs.rundir import RunDir

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=11, n_positions=8, n_embd=8, n_layer=1, n_head=2))
    full = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}  # ≠ the module's own weights
    acc = _ShardedAccelerator(full, getattr(DistributedType, kind))
    tokenizer = type("Tok", (), {"save_pretrained": lambda self, folder: None})()
    run = RunDir(tmp_path / "run")
    save_final(acc, model, tokenizer, run, lambda folder: None)
    saved = AutoModelForCausalLM.from_pretrained(run.final)
    weight = saved.transformer.h[0].mlp.c_fc.weight
    if kind == "MULTI_CPU":  # every process holds the whole model: saved as it is, nothing gathered
        assert acc.gathered == 0 and torch.equal(weight, model.transformer.h[0].mlp.c_fc.weight)
    else:
        assert acc.gathered == 1 and torch.all(weight == 0.5)
