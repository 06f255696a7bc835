"""An example gpufleet plugin: the `ljf` scheduler and the `last-fit` placer (entry points in pyproject.toml)."""
