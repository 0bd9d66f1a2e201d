"""`alignlab eval`, `alignlab report`, in-training evaluation and diagnostics on runs of the micro model."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import MICRO, invoke_cli, metric_rows
from tests.smoke.test_cli_dpo import DPO_FAST
from tests.smoke.test_cli_online import ONLINE_FAST

EVAL_FAST = ["eval.prompts=4", "eval.k=3", "generation.max_new_tokens=12", "eval.bootstrap=50",
             "eval.max_examples=16", "logging.progress=false",
             "generation.temperature=1.0", "generation.top_k=0"]


@pytest.fixture(scope="module")
def dpo_run(alignlab_home, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("dpo") / "run"
    invoke_cli("train", "dpo", *DPO_FAST, "train.epochs=2", "train.eval_every=null", "eval.in_training_prompts=3",
               "optimizer.lr=2e-3",
               "generation.max_new_tokens=12", f"run_dir={run_dir}")
    return run_dir


def test_dpo_logs_sampling_metrics_per_epoch_and_writes_diagnostics(dpo_run):
    samples = metric_rows(dpo_run, "eval_samples")
    # the start, the end of epoch 1 and the end (epoch 2): KL to the reference is measured for DPO as it trains
    assert [r["epoch"] for r in samples] == [0.0, 1.0, 2.0]
    assert samples[0]["kl_k3"] == pytest.approx(0.0, abs=1e-4) and samples[-1]["kl_k3"] > 1e-3
    for key in ("reward_mean", "gold_reward_mean", "sqrt_kl", "pooled_entropy", "distinct_2", "self_bleu",
                "repetition_rate"):
        assert all(math.isfinite(r[key]) for r in samples), key
    assert all(0 <= r["gold_reward_mean"] <= 1 for r in samples)  # the task's judge
    assert all(r["sqrt_kl"] == pytest.approx(max(r["kl_k1"], 0) ** 0.5, rel=1e-3, abs=2e-3) for r in samples)
    assert [r["epoch"] for r in metric_rows(dpo_run, "train_eval")] == [0.0, 1.0, 2.0]
    diagnostics = json.loads((dpo_run / "diagnostics.json").read_text())
    assert set(diagnostics["counts"]) == {"overfitting", "reward_hacking", "diversity_drop"}


def test_eval_of_a_dpo_run_reports_kl_and_win_rate_with_cis(dpo_run, tmp_path):
    out = invoke_cli("eval", str(dpo_run), "--baseline", MICRO, *EVAL_FAST, "eval.length_controlled=true",
                     "-o", str(tmp_path / "ev")).output
    rec = json.loads((tmp_path / "ev" / "eval.json").read_text())
    m = rec["metrics"]
    assert rec["reference"] == MICRO  # auto: the run's starting model
    assert m["kl_k1"] > 0 and m["kl_ci_low"] <= m["kl_k1"] <= m["kl_ci_high"]
    win = rec["win_rate"]
    assert 0 <= win["ci_low"] <= win["win_rate"] <= win["ci_high"] <= 1
    assert win["wins"] + win["ties"] + win["losses"] == pytest.approx(1.0)
    assert "length_controlled" in win
    assert rec["pairs"]["pairs"] > 0 and 0 <= rec["pairs"]["pair_accuracy"] <= 1
    assert rec["perplexity"]["perplexity"] > 1
    for key in ("gold_reward_mean", "reward_mean", "pooled_entropy", "distinct_1", "distinct_2", "self_bleu",
                "truncated_fraction", "repetition_rate", "response_length"):
        assert math.isfinite(m[key]), key
    rows = [json.loads(x) for x in (tmp_path / "ev" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    assert {"prompt", "completion", "reward", "gold", "kl", "baseline_completion", "judge", "baseline_judge"} <= set(rows[0])
    assert "win rate vs" in out and "KL to" in out


def test_kl_is_zero_when_the_policy_is_the_reference(alignlab_home, tmp_path):
    invoke_cli("eval", MICRO, "--reference", MICRO, *EVAL_FAST, "eval.target_threshold=0.0", "-o", str(tmp_path / "ev"))
    m = json.loads((tmp_path / "ev" / "eval.json").read_text())["metrics"]
    assert m["kl_k1"] == pytest.approx(0.0, abs=1e-5) and m["kl_ci_high"] == pytest.approx(0.0, abs=1e-5)
    # the on-target and cut-off rates are the shares of the written samples (gold > threshold; no sentence end)
    rows = [json.loads(x) for x in (tmp_path / "ev" / "samples.jsonl").read_text().splitlines()]
    assert m["on_target_fraction"] == pytest.approx(sum(r["gold"] > 0 for r in rows) / len(rows))
    ended = [r["completion"].rstrip().rstrip("\"')]”’").endswith((".", "!", "?")) for r in rows]
    assert m["cut_off_fraction"] == pytest.approx(1 - sum(ended) / len(rows))


def test_kl_of_a_tempered_evaluation_comes_from_separate_untempered_samples(dpo_run, tmp_path):
    # The evaluation samples at T 0.7 / top-k 40 (the run's reward and diversity numbers), but the KL must be of
    # the policy's own distribution: it is measured on a second set drawn at T = 1 without truncation, with the
    # same seed, so it equals the KL of an evaluation that samples at T = 1 in the first place.
    own = [a for a in EVAL_FAST if not a.startswith(("generation.temperature", "generation.top_k"))]
    invoke_cli("eval", str(dpo_run), *own, "generation.temperature=0.7", "generation.top_k=40", "-o", str(tmp_path / "t"))
    invoke_cli("eval", str(dpo_run), *EVAL_FAST, "-o", str(tmp_path / "u"))
    tempered, plain = (json.loads((tmp_path / d / "eval.json").read_text())["metrics"] for d in ("t", "u"))
    assert tempered["kl_samples"] == "separate T=1 untruncated samples"
    assert plain["kl_samples"] == "evaluation samples"
    assert tempered["kl_k1"] == pytest.approx(plain["kl_k1"], abs=1e-5)
    assert tempered["kl_k3"] == pytest.approx(plain["kl_k3"], abs=1e-5)


def test_eval_refuses_a_reference_with_another_vocabulary(alignlab_home, tmp_path):
    from typer.testing import CliRunner

    from alignlab.cli.main import app
    from alignlab.config.common import ModelConfig
    from alignlab.pipelines.generate import load_for_sampling

    model, tok = load_for_sampling(ModelConfig(name_or_path=MICRO, device="cpu"))
    tok.add_tokens(["zzzunseen"])  # one token more: every id past 511 would mean something else to the reference
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    result = CliRunner().invoke(app, ["eval", MICRO, "--reference", str(tmp_path / "other"), *EVAL_FAST,
                                      "-o", str(tmp_path / "ev")])
    assert result.exit_code == 2, result.output
    assert "tokenizer differs from the policy's" in result.output
    assert not (tmp_path / "ev" / "eval.json").exists()


def test_online_evals_carry_diversity_metrics(alignlab_home, tmp_path):
    invoke_cli("train", "rloo", "-c", "rloo/reviews-tiny", *ONLINE_FAST, f"run_dir={tmp_path / 'rloo'}")
    for row in metric_rows(tmp_path / "rloo", "eval"):
        assert {"pooled_entropy", "distinct_2", "self_bleu"} <= set(row)
    assert (tmp_path / "rloo" / "diagnostics.json").exists()


def chromium_check(page: Path, tmp_path: Path) -> dict:
    """Render a copy of `page` in headless Chromium with a probe that records image loads and errors."""
    probe = ("<script>window.__errors=[];addEventListener('error',e=>{__errors.push(String(e.message||"
             "('failed to load '+(e.target&&e.target.tagName))))},true);const ce=console.error;console.error="
             "(...a)=>{__errors.push(a.join(' '));ce(...a)};addEventListener('load',()=>{const im=[...document.images];"
             "const p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify({images:im.length,"
             "loaded:im.filter(i=>i.complete&&i.naturalWidth>0).length,errors:__errors});document.body.appendChild(p)})"
             "</script>")
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("<head>", "<head>" + probe, 1))
    proc = subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                           "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()],
                          capture_output=True, text=True, timeout=120, env=os.environ | {"HOME": str(tmp_path)})
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no probe output\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    result["console"] = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "Uncaught" in ln]
    return result


def test_report_of_runs_is_self_contained_and_renders(dpo_run, tmp_path):
    invoke_cli("eval", str(dpo_run), "--baseline", MICRO, *EVAL_FAST)  # into RUN/eval/, as the report reads it
    out = invoke_cli("report", str(dpo_run), "-o", str(tmp_path / "rep")).output
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "report.html" in out and (tmp_path / "rep" / "report.md").exists()
    for section in ("Evaluation", "Reward vs KL", "Gold and proxy against √KL", "Win rates", "Diagnostics",
                    "Generations side by side", "config.yaml"):
        assert section in page, section
    assert page.count("data:image/png;base64,") == 3  # the scatter, gold and proxy vs √KL, the run's curves
    assert "<script" not in page and "http" not in page.split("<body>")[1].split("manifest.json")[0]
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    result = chromium_check(tmp_path / "rep" / "report.html", tmp_path)
    assert result["images"] == 3 and result["loaded"] == 3, result
    assert result["errors"] == [] and result["console"] == [], result


def test_report_refuses_a_folder_without_runs(tmp_path):
    from typer.testing import CliRunner

    from alignlab.cli.main import app

    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not an alignlab run directory" in result.output
