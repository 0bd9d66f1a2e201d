"""The method registry (`alignlab.methods`): one entry per method, read by the CLI, the sweep spec, WARP's
`algorithm` and README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from alignlab.config import ConfigError, load_config
from alignlab.methods import METHODS, TRAINING_KINDS, Method, markdown_table, names, register

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_methods_table_is_the_registry():
    text = README.read_text()
    block = re.search(r"<!-- methods-table -->\n(.*?)\n<!-- /methods-table -->", text, re.S).group(1)
    assert block == markdown_table()


def test_every_training_method_is_a_train_command_and_its_plugin_loads():
    from alignlab.cli.main import add_train_commands

    group = typer.Typer()
    add_train_commands(group)
    assert set(get_command(group).commands) == set(names(*TRAINING_KINDS))
    for name in names("online"):
        plugin = METHODS[name].algorithm_class()
        assert plugin.name == name and callable(plugin.loss)
        assert {"estimator", "kl_estimator", "kl_mode", "whiten", "needs_value"} <= set(dir(plugin))
    for name in names(*TRAINING_KINDS, "data"):
        assert callable(METHODS[name].run_function())


def test_a_registered_online_method_is_accepted_by_warp_and_the_sweep_spec():
    from alignlab.config.sweep import SweepSpec

    method = Method("test-online", "online", "a test entry", ("rl",), runner="alignlab.pipelines.online:run_online",
                    algorithm="alignlab.algorithms.rloo:RLOO")
    with pytest.raises(ConfigError, match="warp.algorithm"):
        load_config("warp/reviews-tiny", ["warp.algorithm=test-online"])
    register(method)
    try:
        assert load_config("warp/reviews-tiny", ["warp.algorithm=test-online"]).warp.algorithm == "test-online"
        spec = SweepSpec(name="s", config="rloo/reviews-tiny", verb="test-online", cells=[{"name": "a"}])
        assert spec.verb == "test-online"
        with pytest.raises(ValueError, match="already registered"):
            register(Method("test-online", "offline", "other", (), runner="x:y"))
    finally:
        del METHODS["test-online"]


def test_unknown_verbs_and_losses_name_the_allowed_values():
    from alignlab.config.sweep import SweepSpec

    with pytest.raises(ValueError, match="must be one of: sft, rm, dpo"):
        SweepSpec(name="s", config="x", verb="dpoo", cells=[{"name": "a"}])
    with pytest.raises(ConfigError, match=r"loss.name.*did you mean 'sigmoid'"):
        load_config("dpo/reviews-tiny", ["loss.name=sigmoidd"])
    with pytest.raises(ValueError, match="needs `algorithm`"):
        register(Method("x", "online", "no plug-in", (), runner="alignlab.pipelines.online:run_online"))


def test_plugins_variable_names_a_missing_module_in_one_line():
    from alignlab.methods import load_plugins

    with pytest.raises(ImportError, match="ALIGNLAB_PLUGINS: cannot import plug-in module 'no_such_mod'"):
        load_plugins("no_such_mod")
