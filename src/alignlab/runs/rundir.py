"""The run directory: the only place a run writes.

    runs/NAME-TIMESTAMP/
      config.yaml        resolved config
      manifest.json      command line, seed, versions, git commit, data fingerprint, wall time, status
      metrics.jsonl      one JSON object per log event
      checkpoints/step-N/  resumable state (see alignlab.training.checkpoint)
      final/             save_pretrained model or adapter + tokenizer
      tensorboard/       tracker events
      log.txt            every line the command printed, and its progress lines (appended on resume)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from alignlab.config import Config, dump_config
from alignlab.runs.atomic import (
    CHECKSUMS,
    atomic_write_json,
    atomic_write_text,
    hold_folder,
    release_folder,
    sync_file,
    verify_checksums,
)
from alignlab.runs.progress import log_to


@dataclass
class RunDir:
    path: Path
    started: float = field(default_factory=time.time)

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def manifest_file(self) -> Path:
        return self.path / "manifest.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def final(self) -> Path:
        return self.path / "final"

    def manifest(self) -> dict:
        return json.loads(self.manifest_file.read_text()) if self.manifest_file.exists() else {}

    def update_manifest(self, **fields) -> None:
        data = self.manifest()
        data.update(fields)
        atomic_write_json(self.manifest_file, data)

    def record_wall_time(self, **fields) -> None:
        """Wall time so far, summed over resumed segments (also written at checkpoints, so kill -9 loses little)."""
        wall = self.manifest().get("wall_time_s_previous", 0.0) + (time.time() - self.started)
        self.update_manifest(wall_time_s=round(wall, 2), **fields)

    def finish(self, status: str) -> None:
        sync_file(self.metrics_file)  # records are appended without fsync; make them durable at the end
        self.record_wall_time(status=status, finished=_now_iso())
        release_folder(self.path)


def new_run_name(cfg: Config) -> Path:
    """`run_dir` when set; else `{output_dir}/{name}-{timestamp}` (with `-2`, `-3`, ... when taken). Nothing is made
    here: a run that fails on bad input before `create_run` leaves nothing behind."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.output_dir) / f"{cfg.name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _claim(path: Path, cfg: Config) -> Path:
    """Make a timestamped run folder with an exclusive mkdir: two runs started in the same second get two folders
    (the second one takes the next free suffix). An explicit `run_dir` is used as it is."""
    if cfg.run_dir:
        path.mkdir(parents=True, exist_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.name}-{n}")


def create_run(path: Path, cfg: Config, command: str) -> RunDir:
    """Make the folder and write config.yaml and the first manifest (status `running`); from here on the console
    also writes the run's log.txt."""
    path = _claim(path, cfg)
    hold_folder(path)
    run = RunDir(path)
    log_to(run.log_file)
    atomic_write_text(run.config_file, dump_config(cfg))
    atomic_write_json(run.manifest_file, {
        "name": cfg.name, "command": command, "seed": cfg.seed, "started": _now_iso(), "status": "running",
        "versions": library_versions(), "git_commit": git_commit(), "host": platform.node(),
    })
    return run


def open_run(path: Path) -> RunDir:
    """Reopen an existing run for `--resume`, carrying its wall time forward."""
    if not (path / "config.yaml").exists():
        raise FileNotFoundError(f"'{path}' is not an alignlab run directory (no config.yaml)")
    hold_folder(path)
    run = RunDir(path)
    log_to(run.log_file)
    data = run.manifest()
    run.update_manifest(status="running", wall_time_s_previous=data.get("wall_time_s", 0.0),
                        resumed=[*data.get("resumed", []), _now_iso()])
    return run


def integrity_warning(path: str | Path) -> str | None:
    """A warning when a finished model no longer matches what was written: `path` a run directory (its final/) or
    a model folder with a checksums.json. None when intact or when nothing was recorded."""
    path = Path(path)
    folder = path / "final" if (path / "final" / CHECKSUMS).exists() else path
    problems = verify_checksums(folder) if folder.is_dir() else None
    if not problems:
        return None
    return (f"{folder} is not what the run wrote ({', '.join(problems[:3])}{', …' if len(problems) > 3 else ''}): "
            "results from it may be wrong")


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("alignlab", "torch", "transformers", "peft", "accelerate", "datasets", "tokenizers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def latest_run(output_dir: str | Path, name: str | None = None) -> Path | None:
    """Newest run directory under `output_dir` (optionally for one run name)."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    runs = [p for p in root.iterdir() if (p / "config.yaml").exists() and (name is None or p.name.startswith(name))]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def _now_iso() -> str:
    return datetime.now().isoformat(timespec="seconds")
