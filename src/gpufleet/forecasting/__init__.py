"""Runtime predictors and utilization / demand forecasters, with their backtests (no I/O)."""
