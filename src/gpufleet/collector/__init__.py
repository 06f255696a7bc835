"""Telemetry sources (Prometheus: DCGM, kube-state-metrics, vLLM; NVML), the derived job table and the Parquet store."""
