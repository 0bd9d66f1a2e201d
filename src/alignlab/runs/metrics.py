"""metrics.jsonl: one JSON object per log event, mirrored to accelerate's trackers (TensorBoard, W&B, MLflow)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from alignlab.runs.atomic import append_line, atomic_write_text, sync_file


class MetricsLog:
    """Append-only event log. `split` is train / eval / …; values are plain floats.

    Each record is one O_APPEND write, so a killed process loses nothing it logged and never leaves half a line;
    the fsync that makes records survive a machine crash is kept off the hot path (`sync()`: the training loops
    call it at every checkpoint and at the end, so a machine crash loses at most the records after the last
    checkpoint, which a resume from it writes again).
    """

    def __init__(self, path: str | Path, tracker: Any | None = None):
        self.path = Path(path)
        self.tracker = tracker  # an Accelerator with trackers, or None

    def log(self, step: int, split: str, values: dict[str, float], epoch: float | None = None) -> dict:
        record = {"step": step, "epoch": None if epoch is None else round(epoch, 4), "split": split,
                  "time": round(time.time(), 3)}
        record.update({k: _clean(v) for k, v in values.items()})
        append_line(self.path, json.dumps(record), sync=False)
        if self.tracker is not None:
            numeric = {f"{split}/{k}": v for k, v in record.items()
                       if k not in ("step", "epoch", "split", "time") and isinstance(v, (int, float))}
            self.tracker.log(numeric, step=step)
        return record

    def sync(self) -> None:
        """Make every record logged so far durable (fsync)."""
        sync_file(self.path)

    def log_once(self, step: int, split: str, values: dict[str, float]) -> None:
        """Log unless the file already holds an event of this step and split (a resumed run's setup record)."""
        if not any(r.get("step") == step and r.get("split") == split for r in read_jsonl(self.path)):
            self.log(step, split, values)

    def truncate_after(self, step: int) -> None:
        """Drop events logged after `step` (and a torn last line): a resumed run re-logs them, so the file matches
        an uninterrupted run."""
        if not self.path.exists():
            return
        kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def read_jsonl(path: str | Path, repair: bool = False) -> list[dict]:
    """The records of an append-only JSON-lines file. A line that does not parse (a write torn by a crash or a
    full disk) is skipped with a warning naming the file and line; `repair=True` rewrites the file without it, so
    later appends start on a fresh line."""
    p = Path(path)
    if not p.exists():
        return []
    raw = p.read_bytes()
    rows, bad = [], []
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad.append(number)
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad.append(number)
    if bad:
        from alignlab.runs.progress import console

        action = "removed" if repair else "skipped"
        console.print(f"[yellow]warning:[/yellow] {p}: {len(bad)} unreadable line(s) {action} (line "
                      f"{', '.join(map(str, bad[:5]))}{', …' if len(bad) > 5 else ''}; a torn write?)", highlight=False)
    if repair and (bad or (raw and not raw.endswith(b"\n"))):
        atomic_write_text(p, "".join(json.dumps(r) + "\n" for r in rows))
    return rows


def read_metrics(path: str | Path, split: str | None = None) -> list[dict]:
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    return [r for r in read_jsonl(p) if split is None or r.get("split") == split]


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, float):
        return float(f"{v:.6g}")
    return v
