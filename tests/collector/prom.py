"""The local Prometheus helpers, and a skip with a reason when the Debian package is missing."""

from __future__ import annotations

import pytest

from gpufleet.testing.prometheus import backfill, free_port, have_prometheus, prometheus, prometheus_scraping

__all__ = ["backfill", "free_port", "need_prometheus", "prometheus", "prometheus_scraping"]


def need_prometheus() -> None:
    """Skip with a clear reason when the Debian package is not installed (make test installs it)."""
    if not have_prometheus():
        pytest.skip("Debian package 'prometheus' not installed (make test / .ci/run install it with apt-get)")
