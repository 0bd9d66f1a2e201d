"""The console summary of a sweep: the results table with seed CIs and the paired comparisons."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from alignlab.report.sweep_report import paired_table, result_table
from alignlab.training.progress import console


def _print(headers: list[str], rows: list[list[str]], title: str) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for h in headers:
        # the cell name never wraps; long "mean [CI]" values wrap onto a second line instead of being cut
        table.add_column(h, justify="left" if h in ("cell", "verb") else "right", no_wrap=h == "cell",
                         overflow="fold")
    for r in rows:
        table.add_row(*r)
    Console(stderr=True, width=max(console.width, 200)).print(table)


def print_sweep(summary: dict) -> None:
    _print(*result_table(summary), title=f"sweep {summary['name']}: mean over seeds [95% CI]")
    if (summary.get("paired") or {}).get("cells"):
        _print(*paired_table(summary), title=f"paired with {summary['baseline']}: difference [95% CI] p")
    for row in summary.get("memory", []):
        if not row["holds"]:
            console.print(f"[yellow]memory:[/yellow] {row['cell']}: optimizer state {row['optimizer_state_bytes']:,} B "
                          f"≠ trainable × {row['bytes_per_param']:.0f} B × {row['state_buffers']} buffers")
    if summary["failed"]:
        console.print(f"[red]failed runs:[/red] {', '.join(summary['failed'])}")
    console.print(f"[bold]sweep folder:[/bold] {summary['root']} (results.csv, summary.json) in {summary['seconds']:.0f} s")
    console.print(f"[bold]report:[/bold] {summary['report']['html']}")
