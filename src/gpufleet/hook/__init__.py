"""The live service: KEDA external scaler, HTTP API, Prometheus gauges and the Kubernetes side."""
