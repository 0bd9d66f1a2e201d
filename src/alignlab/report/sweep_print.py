"""The console summary of a sweep: the results table with seed CIs and the paired comparisons."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alignlab.report.sweep_report import (
    inference_note,
    matched_comparison_table,
    matched_table,
    paired_table,
    post_hoc_note,
    result_table,
)
from alignlab.runs.progress import console


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
    if summary.get("quick"):
        console.print("[yellow]quick scale: a smoke test, not a study; no CI or p-value is shown[/yellow]")
    if summary.get("analysis_changed"):
        console.print(f"[yellow]{escape(post_hoc_note(summary['analysis_changed']))}[/yellow]")
    _print(*result_table(summary), title=f"sweep {summary['name']}: mean over seeds [95% seed CI]")
    if summary.get("paired"):
        # the console shows the declared tests; the report and summary.json hold every metric
        _print(*paired_table(summary, tested_only=True), title=f"paired with {summary['baseline'] or 'the contrasts'}, seed against "
               f"seed (p adjusted: {summary.get('correction', 'holm')}, {summary.get('family_size', 0)} tests)")
    if inference_note(summary):
        console.print(f"[yellow]{inference_note(summary)}[/yellow]")
    if (summary.get("matched_kl") or {}).get("methods"):
        _print(*matched_table(summary), title="matched KL: each method read off its curve")
        if summary["matched_kl"].get("comparisons"):
            _print(*matched_comparison_table(summary), title=f"matched KL vs {summary['matched_kl']['baseline']}")
    for row in summary.get("memory", []):
        if not row["holds"]:
            console.print(f"[yellow]memory:[/yellow] {row['cell']}: optimizer state {row['optimizer_state_bytes']:,} B "
                          f"≠ trainable × {row['bytes_per_param']:.0f} B × {row['state_buffers']} buffers")
    if summary["failed"]:
        console.print(f"[red]failed runs:[/red] {', '.join(summary['failed'])}")
    console.print(f"[bold]sweep folder:[/bold] {summary['root']} (results.csv, summary.json) in {summary['seconds']:.0f} s")
    console.print(f"[bold]report:[/bold] {summary['report']['html']}")
