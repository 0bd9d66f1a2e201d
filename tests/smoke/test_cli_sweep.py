"""`alignlab sweep` end to end on the micro model: every study preset at --quick scale, a kill and restart that
skips finished cells, parallel cells, the comparison report."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import MICRO, run_cli

MICRO_SWEEP = [f"vars.sft_model={MICRO}", f"vars.base_model={MICRO}", "model.device=cpu", "logging.progress=false",
               "generation.max_new_tokens=12", "eval:eval.bootstrap=20"]
# The untrained micro model rarely ends a sentence or reaches study D's scores: its thresholds would keep no pair.
EXTRA = {"composite-reward-dpo": ["pairs:pairs.min_gap=0", "pairs:pairs.min_best_score=null",
                                  "pairs:pairs.require_sentence_end=false", "setup:pairs.min_tokens=1"]}
STUDIES = ["dpo-divergences", "reinforce-rloo-warp", "lora-rank-optimizers", "composite-reward-dpo",
           "overfitting-epochs", "aa-dpo", "reward-overoptimisation"]


def sweep_root(tmp_path: Path, name: str) -> Path:
    return tmp_path / "runs" / f"sweep-{name}-quick"


def check_sweep(root: Path, name: str, extra: list[str] = ()) -> dict:
    from alignlab.experiments.spec import expand, load_sweep

    summary = json.loads((root / "summary.json").read_text())
    assert summary["failed"] == []
    args = [*MICRO_SWEEP, *extra]
    _, cells = expand(load_sweep(f"studies/{name}", args), args, quick=True)
    assert set(summary["cells"]) == {c.cell for c in cells}
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert len(rows) == len(cells)
    for cell, c in summary["cells"].items():
        m = c["metrics"]
        assert math.isfinite(m["gold_reward_mean"]["mean"]) and math.isfinite(m["pooled_entropy"]["mean"]), cell
        if c["verb"] not in ("eval", "warp", "bon"):  # bon trains nothing
            assert math.isfinite(m["train_loss"]["mean"]), cell
    page = (root / "report" / "report.html").read_text()
    assert "Frontier" in page and "data:image/png;base64" in page and "Sample generations" in page
    # the quick scale is a smoke test: it says so at the top and shows no CI or p-value anywhere
    assert summary["quick"] and "Quick scale: a smoke test" in page.split("<h2>")[0]
    results = (root / "report" / "report.md").read_text().split("## Results")[1].split("\n## ")[0]
    assert not [line for line in results.splitlines() if line.startswith("| ") and "[" in line]  # no "mean [CI]"
    assert "p adjusted: Holm" not in page
    comps = [c for cs in (summary.get("paired") or {}).get("cells", {}).values() for c in cs.values() if isinstance(c, dict)]
    assert all(c["p_value"] is None and c["ci_low"] is None for c in comps)
    assert all(m["ci_low"] is None for c in summary["cells"].values() for m in c["metrics"].values())
    return summary


def weights_changed(run: Path, start: str) -> bool:
    import torch

    from alignlab.config.common import ModelConfig
    from alignlab.models.loading import load_full_model
    from alignlab.pipelines.common import resolve_model

    a = load_full_model(resolve_model(ModelConfig(name_or_path=str(run))))
    b = load_full_model(resolve_model(ModelConfig(name_or_path=start)))
    return any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("name", [s for s in STUDIES if s != "dpo-divergences"])
def test_study_preset_runs_at_quick_scale(alignlab_home, tmp_path, name):
    extra = EXTRA.get(name, [])
    proc = run_cli("sweep", "-c", f"studies/{name}", "--quick", *MICRO_SWEEP, *extra, cwd=tmp_path, timeout=900)
    root = sweep_root(tmp_path, name)
    summary = check_sweep(root, name, extra)
    assert "mean over seeds" in proc.stderr
    trained = next(p for p in sorted((root / "cells").iterdir()) if (p / "final").exists())  # not best-of-n
    from alignlab.config import load_config

    start = load_config(trained / "config.yaml").model.name_or_path
    assert weights_changed(trained, start), trained
    if name == "lora-rank-optimizers":
        assert summary["memory"] and all(r["holds"] for r in summary["memory"])
        assert {r["state_buffers"] for r in summary["memory"]} == {0, 1, 2}
    if name == "overfitting-epochs":  # the 3-vs-1-epoch contrasts, run-level pair accuracy among them
        contrasts = summary["paired"]["contrasts"]
        assert set(contrasts) == {"sft-3ep vs sft-1ep", "dpo-3ep vs dpo-1ep", "ppo-3ep vs ppo-1ep"}
        assert contrasts["dpo-3ep vs dpo-1ep"]["pair_accuracy"]["n_seeds"] == 1
        assert sorted(p.name for p in (root / "setup").iterdir()) == ["pairs-s0", "rm-s0"]  # setup_per_seed
    if name == "reward-overoptimisation":  # gold and proxy against √KL per proxy, RL and best-of-n
        curves = summary["overoptimisation"]
        assert {c: (v["form"], v["proxy"]) for c, v in curves.items()} == {
            "bon-rm-64": ("bon", "reward_model:rm-64"), "rloo-rm-64": ("rl", "reward_model:rm-64"),
            "bon-rm-1024": ("bon", "reward_model:rm-1024"), "rloo-rm-1024": ("rl", "reward_model:rm-1024")}
        assert [p["sqrt_kl"] for p in curves["bon-rm-64"]["points"]][0] == 0.0
        assert len(curves["rloo-rm-64"]["points"]) == 4  # the start and every 2 of 6 iterations
        page = (root / "report" / "report.md").read_text()
        assert "## Reward over-optimisation" in page and "d(α − β log d)" in page
    if name == "composite-reward-dpo":
        assert re.search(r"pairs-s0 · train: [1-9]\d* pairs from \d+ prompts; gap median \d+\.\d\d / mean",
                         (root / "report" / "report.md").read_text())
        for c in summary["cells"].values():  # study D's target and cut-off rates come from the evaluation
            assert 0 <= c["metrics"]["on_target_fraction"]["mean"] <= 1 and "cut_off_fraction" in c["metrics"]
        assert "on_target_fraction" in (root / "results.csv").read_text().splitlines()[0]


def test_dpo_divergences_killed_and_restarted_skips_finished_cells(alignlab_home, tmp_path):
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "alignlab", "sweep", "-c", "studies/dpo-divergences", "--quick", *MICRO_SWEEP]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    state = sweep_root(tmp_path, "dpo-divergences") / "state.json"
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and sum(r["status"] == "completed" for r in json.loads(state.read_text())["jobs"].values()) >= 4:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [n for n, r in json.loads(state.read_text())["jobs"].items() if r["status"] == "completed"]
    again = run_cli("sweep", "-c", "studies/dpo-divergences", "--quick", *MICRO_SWEEP, cwd=tmp_path, timeout=900)
    for name in done:
        assert f"{name}: already completed, skipped" in again.stderr, name
    root = sweep_root(tmp_path, "dpo-divergences")
    summary = check_sweep(root, "dpo-divergences")
    # every cell against sigmoid at beta 0.1 (the baseline_point), or at its own grid point when sigmoid has it
    assert set(summary["paired"]["cells"]) == set(summary["cells"]) - {"sigmoid-beta=0.1"}
    assert summary["paired"]["cells"]["sigmoid-beta=0.3"]["baseline"] == "sigmoid-beta=0.1"
    assert summary["paired"]["cells"]["fkl-beta=0.3"]["baseline"] == "sigmoid-beta=0.3"
    assert summary["paired"]["cells"]["hinge"]["baseline"] == "sigmoid-beta=0.1"
    assert weights_changed(root / "cells" / "sigmoid-beta=0.1-s0", MICRO)
    # the comparison report again, from the verb
    out = run_cli("report", str(root), "-o", str(tmp_path / "rep"), cwd=tmp_path)
    assert "sweep report" in out.stderr and (tmp_path / "rep" / "frontier-entropy.png").exists()


SMALL = """
name: small
config: sft/reviews-tiny
overrides: [train.max_steps=2, train.eval_every=2, train.save_every=2, data.max_train_samples=32,
            data.max_eval_samples=8, train.eval_train_samples=8, eval.in_training_prompts=0,
            "model.name_or_path=${m}", "logging.report_to=[]"]
vars: {m: builtin:reviews-micro}
verb: sft
cells:
  - {name: init, verb: eval, model: "${m}"}
  - {name: a, overrides: [optimizer.lr=1e-3]}
  - {name: b, overrides: [optimizer.lr=1e-2]}
seeds: [0, 1]
baseline: a
eval: [eval.prompts=4, eval.k=2, eval.bootstrap=20, eval.max_examples=8]
"""


def test_parallel_cells_and_a_different_sweep_in_the_same_folder(alignlab_home, tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    out = tmp_path / "sw"
    run_cli("sweep", "-c", str(spec), "--jobs", "2", "-o", str(out), "model.device=cpu", "generation.max_new_tokens=8",
            cwd=tmp_path, timeout=600)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["cells"]) == {"init", "a", "b"} and summary["cells"]["a"]["seeds"] == [0, 1]
    assert "b" in summary["paired"]["cells"]
    # 2 seeds: per-seed values, no CI and no p-value, and the reason
    ci = summary["cells"]["a"]["metrics"]["gold_reward_mean"]
    assert ci["ci_low"] is None and len(ci["values"]) == 2
    gold = summary["paired"]["cells"]["b"]["gold"]
    assert gold["p_value"] is None and len(gold["per_seed"]) == 2 and "fewer than 3 seeds" in gold["reason"]
    other = run_cli("sweep", "-c", str(spec), "-o", str(out), "model.device=cpu", cwd=tmp_path, check=False)
    assert other.returncode == 2 and "holds a different sweep" in other.stderr


AA = """
name: aa
config: sft/reviews-tiny
overrides: [train.max_steps=2, train.eval_every=2, train.save_every=2, data.max_train_samples=32,
            data.max_eval_samples=8, train.eval_train_samples=8, eval.in_training_prompts=0, "logging.report_to=[]"]
vars: {m: builtin:reviews-micro}
setup:
  - {name: warm, verb: sft, config: sft/reviews-tiny, overrides: ["model.name_or_path=${m}"]}
setup_per_seed: true
verb: sft
cells:
  - name: a
    overrides: ["model.name_or_path=${warm}"]
    grid: [{key: optimizer.lr, label: lr, values: [1.0e-3, 3.0e-2]}]
  - name: a-again
    overrides: ["model.name_or_path=${warm}"]
    grid: [{key: optimizer.lr, label: lr, values: [1.0e-3, 3.0e-2]}]
    seeds: [3, 4, 5]
seeds: [0, 1, 2]
baseline: a
tests: [gold, kl]
eval: [eval.prompts=4, eval.k=2, eval.bootstrap=20, eval.max_examples=8]
"""


def test_aa_sweep_with_setup_per_seed_own_grids_and_seed_level_statistics(alignlab_home, tmp_path):
    """The same method under two names with other seeds (an A/A check), setup stages per seed, each cell a curve
    over its own grid: seed-level paired comparisons (by rank), adjusted p-values, the matched-KL section."""
    spec = tmp_path / "aa.yaml"
    spec.write_text(AA)
    out = tmp_path / "aa"
    proc = run_cli("sweep", "-c", str(spec), "-o", str(out), "model.device=cpu", "generation.max_new_tokens=8",
                   cwd=tmp_path, timeout=900)
    # one setup stage per seed that any cell runs, and each cell run starts from its own seed's stage
    assert sorted(p.name for p in (out / "setup").iterdir()) == [f"warm-s{s}" for s in range(6)]
    from alignlab.config import load_config

    for cell, seed in (("a-lr=0.001", 0), ("a-again-lr=0.03", 4)):
        cfg = load_config(out / "cells" / f"{cell}-s{seed}" / "config.yaml")
        assert cfg.model.name_or_path == str(out / "setup" / f"warm-s{seed}") and cfg.seed == seed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells"]["a-again-lr=0.001"]["seeds"] == [3, 4, 5]
    ci = summary["cells"]["a-lr=0.001"]["metrics"]["gold_reward_mean"]
    assert ci["ci_low"] <= ci["mean"] <= ci["ci_high"] and len(ci["values"]) == 3
    comp = summary["paired"]["cells"]["a-again-lr=0.001"]
    assert comp["baseline"] == "a-lr=0.001" and comp["pairing"].startswith("by rank")
    gold, entropy = comp["gold"], comp["entropy"]
    assert gold["n_seeds"] == 3 and gold["seed_pairs"] == [[3, 0], [4, 1], [5, 2]]
    assert 0 <= gold["p_value"] <= gold["p_adjusted"] <= 1 and gold["ci_low"] <= gold["diff"] <= gold["ci_high"]
    assert entropy["p_value"] is None and "descriptive" in entropy["reason"]  # not among the declared tests
    assert summary["family_size"] == 2 * 2 + len([c for lvs in summary["matched_kl"].get("comparisons", {}).values()
                                                    for ms in lvs.values() for k, c in ms.items()
                                                    if k in ("gold_reward_mean",)])
    assert summary["matched_kl"]["curves"] == ["a", "a-again"]
    page = (out / "report" / "report.html").read_text()
    assert "Paired comparison with a" in page and "p adjusted" in page and "Matched KL" in page
    assert "Quick scale" not in page
    assert "paired with a, seed against seed" in proc.stderr
