"""Experiment trackers get the resolved config as hyperparameters, and a tracker that cannot start is one line
before training on every process, with the run marked failed (issue 21: a raw traceback on rank 0, rank 1 dead,
the run left `running`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import FAST, run_cli

from alignlab.config import load_config
from alignlab.pipelines.common import hyperparameters


def test_hyperparameters_are_flat_scalars_of_the_whole_config():
    flat = hyperparameters(load_config("sft/reviews-chat", ["lora.r=8", "lora.target_modules=[q_proj,v_proj]"]))
    assert flat["optimizer.lr"] == 1e-3 and flat["lora.r"] == 8 and flat["data.chat_template"] == "tokenizer"
    assert flat["lora.target_modules"] == '["q_proj", "v_proj"]' and flat["train.max_steps"] == "null"
    assert all(isinstance(v, (str, int, float, bool)) for v in flat.values())


def test_tensorboard_receives_the_config_as_hparams(alignlab_home, tmp_path):
    run = tmp_path / "tb"
    run_cli("train", "sft", *FAST, "train.max_steps=2", "logging.report_to=[tensorboard]", f"run_dir={run}")
    (hparams,) = (run / "tensorboard").rglob("hparams.yml")
    stored = yaml.safe_load(hparams.read_text())
    assert stored["optimizer.lr"] == pytest.approx(5e-4) and stored["train.max_steps"] == 2
    assert stored["model.name_or_path"] == "builtin:reviews-micro"


def test_a_tracker_that_cannot_start_stops_both_processes_in_one_line(alignlab_home, tmp_path):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "tensorboard").write_text("a file where the tracker wants its folder")
    launcher = Path(sys.executable).parent / "accelerate"
    cmd = [str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "alignlab", "train", "sft", *FAST, "train.max_steps=2",
           "logging.report_to=[tensorboard]", f"run_dir={run}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ | {"MASTER_PORT": "29533"})
    # The launchers (torch.distributed.run, accelerate) report the failed children their own way; no rank of
    # alignlab's dies with a traceback.
    assert proc.returncode != 0 and "]: Traceback" not in proc.stderr and "exitcode: 2" in proc.stderr
    assert proc.stderr.count("error: logging.report_to=['tensorboard']: a tracker could not start") >= 2  # each rank
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"
    assert not (run / "final").exists()


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (pip install mlflow)")
def test_mlflow_gets_params_and_a_refused_store_is_one_line(alignlab_home, tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_cli("train", "sft", *FAST, "train.max_steps=2", "logging.report_to=[mlflow]", f"run_dir={tmp_path / 'ok'}",
            env={"MLFLOW_TRACKING_URI": uri})
    mlflow.set_tracking_uri(uri)
    (found,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert found.data.params["optimizer.lr"] == "0.0005" and "train/loss" in found.data.metrics
    proc = run_cli("train", "sft", *FAST, "train.max_steps=2", "logging.report_to=[mlflow]",
                   f"run_dir={tmp_path / 'file-store'}", check=False,
                   env={"MLFLOW_TRACKING_URI": f"file://{tmp_path / 'mlruns'}", "MLFLOW_ALLOW_FILE_STORE": "false"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "a tracker could not start" in proc.stderr
    assert json.loads((tmp_path / "file-store" / "manifest.json").read_text())["status"] == "failed"
