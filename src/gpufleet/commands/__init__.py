"""Command groups of the `gpufleet` CLI; `gpufleet.cli` assembles them."""
