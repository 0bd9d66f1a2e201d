"""Run directories, atomic writes and the metrics log."""
