"""gpufleet: telemetry, forecasting, optimization and trace-driven simulation for GPU fleets."""

__version__ = "0.1.0"
