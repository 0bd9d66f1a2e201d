import pytest

from alignlab.config import ConfigError, load_config
from alignlab.config.loader import explain_config, parse_override
from alignlab.config.presets import list_presets


def test_override_values_are_typed():
    cfg = load_config(None, ["optimizer.lr=1e-4", "lora.r=8", "lora.target_modules=[c_attn,c_proj]",
                             "train.max_grad_norm=null", "data.completion_only=false", "name=abc"])
    assert cfg.optimizer.lr == 1e-4 and isinstance(cfg.lora.r, int) and cfg.lora.r == 8
    assert cfg.lora.target_modules == ["c_attn", "c_proj"]
    assert cfg.train.max_grad_norm is None and cfg.data.completion_only is False and cfg.name == "abc"


def test_parse_override_keeps_strings_with_equals():
    assert parse_override("data.dataset=a=b") == (["data", "dataset"], "a=b")


@pytest.mark.parametrize("override, expected", [
    ("optimizer.name=nonsense", "optimizer.name"),
    ("lora.r=-1", "lora.r"),
    ("train.batch_size=abc", "train.batch_size"),
    ("scheduler.name=cosin", "did you mean 'cosine'"),
    ("optimzer.lr=1", "did you mean 'optimizer'"),
    ("optimizer.name=sgd_momentun", "did you mean 'sgd_momentum'"),
])
def test_bad_values_name_the_field(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_any_torch_optimizer_name_is_allowed():
    assert load_config(None, ["optimizer.name=RMSprop"]).optimizer.name == "RMSprop"
    assert load_config(None, ["optimizer.name=SGD_Nesterov"]).optimizer.name == "sgd_nesterov"


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_every_preset_validates():
    presets = list_presets()
    assert "sft/reviews-tiny" in presets and "quickstart/sft" in presets
    from alignlab.config.loader import read_yaml
    from alignlab.config.presets import resolve_preset
    from alignlab.experiments.spec import load_sweep

    for name in presets:
        if "cells" in read_yaml(resolve_preset(name)):
            load_sweep(name)  # a sweep file (configs/studies/), validated by its own schema
        elif "stages" in read_yaml(resolve_preset(name)):
            from alignlab.pipelines.quickstart import load_plan

            load_plan(name)  # the quickstart's plan (configs/quickstart/stages.yaml)
        else:
            load_config(name)


def test_every_field_is_documented():
    undocumented = [key for key, _, _, doc in explain_config() if not doc]
    assert undocumented == []


def test_extends_merges_a_preset_over_its_parent(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("extends: dpo/reviews-tiny\nname: mine\nloss:\n  name: ipo\n")
    cfg = load_config(child, ["beta.value=0.3"])
    assert (cfg.name, cfg.loss.name, cfg.beta.value) == ("mine", "ipo", 0.3)
    assert cfg.data.dataset == "builtin:reviews-pairs"  # inherited
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"extends: {loop}\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(loop)


def test_study_a_anneal_presets():
    ipo = load_config("dpo/reviews-tiny-ipo-anneal")
    assert (ipo.loss.name, ipo.loss.length_normalize, ipo.beta.schedule, ipo.beta.start, ipo.beta.end) == (
        "ipo", False, "linear", 1.0, 0.01)
    dpo = load_config("dpo/reviews-tiny-dpo-anneal")
    assert (dpo.loss.name, dpo.beta.start, dpo.beta.end) == ("sigmoid", 0.0, 1.0)
    with pytest.raises(ConfigError, match="IPO"):
        load_config("dpo/reviews-tiny-dpo-anneal", ["loss.name=ipo"])


def test_reference_mode_resolution():
    assert load_config("dpo/reviews-tiny").reference_mode == "copy"
    assert load_config("dpo/reviews-tiny", ["lora.r=8"]).reference_mode == "adapter"
    assert load_config("dpo/reviews-tiny", ["loss.name=orpo"]).reference_mode == "none"


@pytest.mark.parametrize("loss", ["simpo", "orpo"])
def test_reference_free_losses_refuse_a_second_length_normalisation(loss):
    # simpo/orpo divide by the reply length themselves; length_normalize=true would divide it twice
    with pytest.raises(ConfigError, match="loss.length_normalize"):
        load_config("dpo/reviews-tiny", [f"loss.name={loss}", "loss.length_normalize=true"])
    assert load_config("dpo/reviews-tiny", [f"loss.name={loss}"]).loss.length_normalize is None


def test_samples_policy_only_at_temperature_one_untruncated():
    g = load_config(None, []).generation  # defaults: T 0.7, top-k 40
    assert not g.samples_policy and g.untempered().samples_policy
    assert g.untempered().max_new_tokens == g.max_new_tokens
    assert not load_config(None, ["generation.temperature=1", "generation.top_k=0",
                                  "generation.repetition_penalty=1.1"]).generation.samples_policy


def test_quickstart_plan_names_registered_methods(tmp_path):
    from alignlab.pipelines.quickstart import load_plan, split_overrides

    plan = load_plan()
    assert plan.names[-1] == "eval" and set(plan.evaluate.values()) <= {s.name for s in plan.stages}
    assert split_overrides(["rloo:rl.k=2", "seed=1"], plan)["rloo"] == ["rl.k=2", "seed=1"]
    with pytest.raises(ConfigError, match="unknown quickstart stage 'ppo'"):
        split_overrides(["ppo:rl.k=2"], plan)
    bad = tmp_path / "plan.yaml"
    bad.write_text("stages: [{name: sft}, {name: distill}]\nevaluate: {SFT: sft}\nbaseline: sft\nreport: [sft]\n")
    with pytest.raises(ConfigError, match="stage distill is not a method"):
        load_plan(str(bad))


def test_explain_shows_each_default_and_the_chosen_value():
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    rows = {key: (kind, default) for key, kind, default, _ in explain_config()}
    assert rows["optimizer.lr"] == ("float", "0.0005") and rows["lora.r"] == ("int", "0")
    assert rows["data.chat"][1] == "null" and rows["lora.target_modules"][1] == "all-linear"
    assert rows["ref.mode"][0].split(" | ")[:4] == ["auto", "copy", "adapter", "adapter_off"]
    out = CliRunner().invoke(app, ["config", "show", "--explain", "-c", "dpo/reviews-tiny"]).output
    line = next(ln for ln in out.splitlines() if ln.startswith("optimizer.lr "))
    assert "default 0.0005, here 0.0001" in line


def test_a_missing_gguf_file_is_one_line_naming_it(tmp_path):
    import pytest

    from alignlab.config import ConfigError
    from alignlab.config.common import ModelConfig
    from alignlab.models.gguf import ensure_converted, gguf_spec

    for spec in (str(tmp_path / "absent.gguf"), "models/a/b/absent.gguf", "./absent.gguf"):
        with pytest.raises(ConfigError, match="GGUF file .*absent.gguf' does not exist"):
            ensure_converted(ModelConfig(name_or_path=spec))
    with pytest.raises(ConfigError, match="unknown packaged GGUF model 'gguf:nope'; available: gguf:smollm2"):
        gguf_spec(ModelConfig(name_or_path="gguf:nope"))
