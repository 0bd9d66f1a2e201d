"""metrics.jsonl: one JSON object per log event, mirrored to accelerate's trackers (TensorBoard, W&B, MLflow)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from alignlab.runs.atomic import append_line, atomic_write_text


class MetricsLog:
    """Append-only event log. `split` is train / eval / …; values are plain floats."""

    def __init__(self, path: str | Path, tracker: Any | None = None):
        self.path = Path(path)
        self.tracker = tracker  # an Accelerator with trackers, or None

    def log(self, step: int, split: str, values: dict[str, float], epoch: float | None = None) -> dict:
        record = {"step": step, "epoch": None if epoch is None else round(epoch, 4), "split": split,
                  "time": round(time.time(), 3)}
        record.update({k: _clean(v) for k, v in values.items()})
        append_line(self.path, json.dumps(record))
        if self.tracker is not None:
            numeric = {f"{split}/{k}": v for k, v in record.items()
                       if k not in ("step", "epoch", "split", "time") and isinstance(v, (int, float))}
            self.tracker.log(numeric, step=step)
        return record

    def truncate_after(self, step: int) -> None:
        """Drop events logged after `step`: a resumed run re-logs them, so the file matches an uninterrupted run."""
        if not self.path.exists():
            return
        kept = [ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        atomic_write_text(self.path, "".join(ln + "\n" for ln in kept))


def read_metrics(path: str | Path, split: str | None = None) -> list[dict]:
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    rows = [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, float):
        return float(f"{v:.6g}")
    return v
