"""Canonical schemas, units, the policy Registry, errors, typed config and clocks (no I/O, no other gpufleet module)."""
