"""Reports of finished experiments: tables, summaries and plots read from run directories."""
