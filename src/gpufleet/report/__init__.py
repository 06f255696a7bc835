"""Self-contained HTML reports of simulation runs."""
