"""The alignlab command line (typer)."""
