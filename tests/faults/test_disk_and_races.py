"""A full disk ends a run in one line with nothing half-written, and it resumes where it stopped; two processes
never share a run or sweep folder; no run name leaves the runs folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import MICRO, run_cli
from tests.faults.helpers import SFT, events, one_line_error, weights


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs: room for one checkpoint of the micro model (root only: skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_is_one_line_leaves_no_staging_and_resumes(alignlab_home, tmp_path, small_disk):
    full = tmp_path / "full"
    run_cli("train", "sft", *SFT, f"run_dir={full}")
    run = small_disk / "run"
    proc = run_cli("train", "sft", *SFT, f"run_dir={run}", check=False)
    assert proc.returncode == 2 and one_line_error(proc), proc.stderr[-3000:]
    assert "no space left" in proc.stderr
    leftovers = [p.name for p in run.rglob(".*") if p.name not in (".lock",)]
    assert leftovers == [], leftovers
    kept = sorted(run.glob("checkpoints/step-*"))
    assert kept, "the checkpoints written before the disk filled are kept"
    moved = shutil.copytree(run, tmp_path / "moved")  # more space: the run goes on elsewhere
    run_cli("train", "sft", "--resume", str(moved))
    assert weights(moved) == weights(full)
    assert events(moved) == events(full)


def test_read_only_output_is_one_line(alignlab_home, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    proc = run_cli("train", "sft", *SFT, f"output_dir={out}", check=False)
    assert proc.returncode == 2 and one_line_error(proc) and "ermission denied" in proc.stderr


def test_two_runs_started_in_the_same_second_get_two_folders(alignlab_home, tmp_path):
    args = [sys.executable, "-m", "alignlab", "train", "sft", *SFT, "train.max_steps=2", "name=same"]
    procs = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    folders = sorted((tmp_path / "runs").glob("same-*"))
    assert len(folders) == 2 and all((f / "final").is_dir() for f in folders)


def test_a_run_folder_in_use_is_refused(alignlab_home, tmp_path):
    from alignlab.runs.atomic import folder_held

    run = tmp_path / "busy"
    with folder_held(run):  # as a running alignlab process holds it
        proc = run_cli("train", "sft", *SFT, f"run_dir={run}", check=False)
    assert proc.returncode == 2 and one_line_error(proc) and "is in use by another alignlab process" in proc.stderr


def test_a_sweep_folder_in_use_is_refused(alignlab_home, tmp_path):
    from alignlab.runs.atomic import folder_held

    root = tmp_path / "sweep"
    with folder_held(root, "sweep"):
        proc = run_cli("sweep", "-c", "studies/aa-dpo", "--quick", f"vars.sft_model={MICRO}",
                       f"vars.base_model={MICRO}", "model.device=cpu", "-o", str(root), check=False)
    assert proc.returncode == 2 and one_line_error(proc) and "sweep folder" in proc.stderr


@pytest.mark.parametrize("name", ["../../../escaped", "/abs/escaped", "a/b", "", ".hidden", "..", "x\ny"])
def test_no_run_name_leaves_the_runs_folder(alignlab_home, tmp_path, name):
    tag = uuid.uuid4().hex[:8]
    proc = run_cli("train", "sft", *SFT, f"name={name}{tag if name else ''}", check=False, cwd=tmp_path)
    assert proc.returncode == 2 and one_line_error(proc) and "name" in proc.stderr
    assert not list(tmp_path.parent.parent.glob(f"**/escaped{tag}*"))
