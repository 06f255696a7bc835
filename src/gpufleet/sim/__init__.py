"""Discrete-event simulator: training-cluster and serving-fleet models, schedulers and metrics observers."""
