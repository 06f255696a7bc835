"""Cost allocation from GPU samples: shares (who holds what of each device), tokens (vLLM), allocation."""

from gpufleet.optimizer.cost.allocation import BY, Allocation, By, Rates, allocate, sample_steps

__all__ = ["BY", "Allocation", "By", "Rates", "allocate", "sample_steps"]
