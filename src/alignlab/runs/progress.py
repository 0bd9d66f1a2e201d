"""Progress a user can see: rich bars on a terminal, plain-text lines elsewhere, and the run's log file.

`console` is the one console every module prints through. On a terminal a long job shows a rich progress bar;
when stderr is not a terminal (a batch job, `nohup`, `tee`, CI) the bar is replaced by a plain line every
`ALIGNLAB_PROGRESS_SECONDS` seconds (default 30) and at the end, so a log shows how far a job got and how long it
still needs. Once a run directory is open (`log_to`), every printed line and every progress line also goes to its
`log.txt`, terminal or not.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _TeeConsole(Console):
    """A rich console on stderr whose printed lines are also appended, as plain text, to the open log file."""

    log_file: Console | None = None

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        super().print(*objects, **kwargs)
        if self.log_file is not None:
            self.log_file.print(*objects, **kwargs)

    def log_only(self, text: str) -> None:
        if self.log_file is not None:
            self.log_file.print(text, highlight=False, markup=False)


console = _TeeConsole(stderr=True, soft_wrap=True)


def log_to(path: str | Path | None) -> None:
    """Append every later console line (and progress line) to `path` (a run's log.txt); None stops."""
    if console.log_file is not None:
        console.log_file.file.close()
        console.log_file = None
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - kept open for the run
        console.log_file = Console(file=handle, no_color=True, width=200, soft_wrap=True, highlight=False,
                                   log_time=False, force_terminal=False, emoji=False)


def plain_every() -> float:
    return float(os.environ.get("ALIGNLAB_PROGRESS_SECONDS", "30"))


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Bar:
    def __init__(self, description: str, total: int, completed: int, progress: Progress | None = None, task=None):
        self.description, self.total, self.start_completed = description, total, completed
        self.progress, self.task = progress, task
        self.t0 = self.last_line = time.monotonic()

    def update(self, completed: int, **fields) -> None:
        info = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        if self.progress is not None:
            self.progress.update(self.task, completed=completed, info=info)
        now = time.monotonic()
        if completed >= self.total or now - self.last_line >= plain_every():
            self.last_line = now
            self._line(completed, now, info)

    def _line(self, completed: int, now: float, info: str) -> None:
        elapsed, done = now - self.t0, completed - self.start_completed
        eta = elapsed / done * (self.total - completed) if done > 0 else float("nan")
        pct = 100 * completed / max(self.total, 1)
        line = (f"{self.description}: {completed}/{self.total} ({pct:.0f}%)  elapsed {_clock(elapsed)}  eta "
                f"{_clock(eta) if eta == eta else '?'}" + (f"  {info}" if info else ""))
        if self.progress is None:  # not a terminal: the plain line is the progress display
            console.print(line, highlight=False, markup=False)
        else:
            console.log_only(line)


class _Off:
    def update(self, completed: int, **fields) -> None:
        pass


@contextmanager
def progress_bar(description: str, total: int, completed: int = 0, enabled: bool = True):
    """Yield an object with `.update(completed, **fields)`: a rich bar on a terminal, plain lines otherwise (both
    also in the run's log file); a no-op when disabled (other ranks, quiet mode)."""
    if not enabled:
        yield _Off()
        return
    if not console.is_terminal:
        bar = _Bar(description, total, completed)
        console.print(f"{description}: started, {completed}/{total}", highlight=False, markup=False)
        yield bar
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                        console=console, transient=False)
    with progress:
        task = progress.add_task(description, total=total, completed=completed, info="")
        yield _Bar(description, total, completed, progress, task)
