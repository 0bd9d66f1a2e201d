"""A loss and an online method registered by a plug-in at run time work from the CLI and from a sweep file, with no
edit anywhere in src/ (`alignlab.methods`, ALIGNLAB_PLUGINS)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tests.conftest import MICRO, metric_rows, run_cli
from tests.smoke.test_cli_online import ONLINE_FAST, _changed

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = {"ALIGNLAB_PLUGINS": "tests.plugins.example_methods",
          "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

SWEEP = f"""
name: plugins
config: dpo/reviews-tiny
overrides: [model.name_or_path={MICRO}, "logging.report_to=[]", generation.max_new_tokens=8]
verb: dpo
cells:
  - name: dpo
    overrides: [loss.name=sigmoid, train.max_steps=2, data.dataset=builtin:reviews-prefs, data.max_train_samples=32,
                data.max_eval_samples=8, data.max_length=64, train.batch_size=8, train.eval_train_samples=8,
                eval.in_training_prompts=0]
  - name: squared
    overrides: [loss.name=squared_sigmoid, train.max_steps=2, data.dataset=builtin:reviews-prefs,
                data.max_train_samples=32, data.max_eval_samples=8, data.max_length=64, train.batch_size=8,
                train.eval_train_samples=8, eval.in_training_prompts=0]
  - name: signed
    verb: signed-rloo
    config: rloo/reviews-tiny
    overrides: [rl.iterations=2, rl.prompts_per_iteration=4, rl.k=3, eval.in_training_prompts=4, train.batch_size=4]
seeds: [0]
baseline: dpo
eval: [eval.prompts=4, eval.k=2, eval.bootstrap=20, eval.max_examples=8]
"""


def test_plugin_method_and_loss_run_from_the_cli(alignlab_home, tmp_path):
    helptext = run_cli("train", "--help", env=PLUGIN).stdout
    assert "signed-rloo" in helptext
    run_dir = tmp_path / "signed"
    run_cli("train", "signed-rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, f"run_dir={run_dir}", env=PLUGIN)
    rows = metric_rows(run_dir, "train")
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)
    assert _changed(run_dir)
    loss_dir = tmp_path / "squared"
    run_cli("train", "dpo", "-c", "dpo/reviews-tiny", f"model.name_or_path={MICRO}", "model.device=cpu",
            "data.dataset=builtin:reviews-prefs", "data.max_train_samples=32", "data.max_eval_samples=8",
            "data.max_length=64", "train.batch_size=8", "train.max_steps=2", "train.log_every=1",
            "train.eval_train_samples=8", "logging.progress=false", "logging.report_to=[]",
            "loss.name=squared_sigmoid", f"run_dir={loss_dir}", env=PLUGIN)
    assert all(math.isfinite(r["loss"]) for r in metric_rows(loss_dir, "train"))
    # without the plug-in the names are unknown, and the error lists what is allowed
    bad = run_cli("train", "dpo", "-c", "dpo/reviews-tiny", "loss.name=squared_sigmoid", check=False)
    assert bad.returncode == 2 and "loss.name" in bad.stderr and "sigmoid" in bad.stderr
    assert run_cli("train", "signed-rloo", check=False).returncode != 0


def test_plugin_method_and_loss_run_in_a_sweep(alignlab_home, tmp_path):
    spec = tmp_path / "plugins.yaml"
    spec.write_text(SWEEP)
    out = tmp_path / "sw"
    run_cli("sweep", "-c", str(spec), "-j", "2", "-o", str(out), "model.device=cpu", "logging.progress=false",
            cwd=tmp_path, env=PLUGIN, timeout=600)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == [] and set(summary["cells"]) == {"dpo", "squared", "signed"}
    assert summary["cells"]["signed"]["verb"] == "signed-rloo"
    cfg = (out / "cells" / "squared-s0" / "config.yaml").read_text()
    assert "squared_sigmoid" in cfg
