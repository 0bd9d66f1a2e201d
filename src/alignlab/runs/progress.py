"""Rich progress bars for long work (training, generation, model building)."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, soft_wrap=True)


class _Bar:
    def __init__(self, progress: Progress | None, task):
        self.progress, self.task = progress, task

    def update(self, completed: int, **fields) -> None:
        if self.progress is not None:
            info = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            self.progress.update(self.task, completed=completed, info=info)


@contextmanager
def progress_bar(description: str, total: int, completed: int = 0, enabled: bool = True):
    """Yield an object with `.update(completed, **fields)`; a no-op when disabled (other ranks, quiet mode)."""
    if not enabled:
        yield _Bar(None, None)
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                        console=console, transient=False)
    with progress:
        task = progress.add_task(description, total=total, completed=completed, info="")
        yield _Bar(progress, task)
