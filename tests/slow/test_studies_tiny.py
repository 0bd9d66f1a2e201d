"""Acceptance check of the sweeps issue on the real default model: study A's --quick scale finishes with every cell,
its report shows the frontier, and a second run skips every finished cell. (Its time is a measurement, reported in
summary.json's `seconds`, not asserted here: timings belong in benchmarks.)"""

from __future__ import annotations

import json

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_dpo_divergences_quick_finishes_and_is_resumable(tmp_path):
    from alignlab.pipelines.builtins import ensure_builtin

    ensure_builtin("builtin:reviews-web-sft")  # the built-in start model (cached) is not the sweep's time
    run_cli("sweep", "-c", "studies/dpo-divergences", "--quick", "logging.progress=false", cwd=tmp_path, timeout=900)
    root = tmp_path / "runs" / "sweep-dpo-divergences-quick"
    summary = json.loads((root / "summary.json").read_text())
    assert summary["failed"] == []
    assert len(summary["cells"]) == 17  # sigmoid, fkl, alpha-0.5 and ipo at 2 quick betas each
    sft, dpo = (summary["cells"][c]["metrics"]["gold_reward_mean"]["mean"] for c in ("sft", "sigmoid-beta=0.1"))
    assert dpo > sft, (sft, dpo)  # even 10 steps of DPO (on VADER-scored pairs) move gold up
    page = (root / "report" / "report.html").read_text()
    assert "Frontier: reward vs entropy" in page
    assert (root / "report" / "frontier-entropy.png").stat().st_size > 10_000
    again = run_cli("sweep", "-c", "studies/dpo-divergences", "--quick", "logging.progress=false", cwd=tmp_path,
                    timeout=300)
    assert again.stderr.count("already completed, skipped") == 18  # the pairs stage (seed 0) and 17 cells
