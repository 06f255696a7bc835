"""Decision code: packing (Placer), right-sizing (RightSizer), autoscaling (Autoscaler) and recommendations (no I/O)."""
