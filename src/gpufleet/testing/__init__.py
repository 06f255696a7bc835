"""Helpers for tests and benchmarks that start real servers: free ports, waiting for HTTP, a local Prometheus.

They open sockets and start processes, so they live outside core; no production module imports them
(an import-linter contract holds it). They ship in the package so bench/ and tests/ share one copy.
"""
