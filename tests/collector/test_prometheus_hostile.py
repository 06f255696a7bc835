"""What the collector says and asks of a real Prometheus when the input is hostile or wrong: a refused
query is not retried, credentials never reach a message, label values are quoted, never spliced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.collector.prom import backfill, free_port, need_prometheus, prometheus
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.collector.prometheus import PrometheusSource
from gpufleet.core.errors import GpufleetError
from gpufleet.core.promql import matchers

pytestmark = [pytest.mark.integration]

# label values that would end a selector, start a comment or break the escaping if spliced
NASTY = ['a"b', "back\\slash", "br{a}ces", "hash # tail", 'x"} or vector(1) #', "multi\nline"]
T = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)


def _om_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    need_prometheus()
    root = tmp_path_factory.mktemp("hostile")
    lines = ["# TYPE vllm:num_requests_running gauge"]
    for k, v in enumerate([*NASTY, "plain"]):
        for m in range(10):
            ts = (T + timedelta(minutes=m)).timestamp()
            lines.append(f'vllm:num_requests_running{{namespace="ns",model_name="{_om_escape(v)}"}} {k} {ts:.0f}')
    (root / "h.om").write_text("\n".join(lines) + "\n# EOF\n")
    backfill(root / "h.om", root / "tsdb")
    with prometheus(root / "tsdb", free_port()) as url:
        yield url


@pytest.mark.parametrize("value", NASTY)
def test_label_values_are_quoted_not_spliced(served, value: str) -> None:  # type: ignore[no-untyped-def]
    api = PrometheusSource(served, retries=0)
    sel = f"vllm:num_requests_running{{{matchers({'namespace': 'ns', 'model_name': value})}}}"
    got = api.query_raw(sel, T, T + timedelta(minutes=10))
    assert [r["metric"]["model_name"] for r in got] == [value], "exactly the series with that value"
    assert float(got[0]["values"][0][1]) == NASTY.index(value)


def test_a_refused_query_is_not_retried(served) -> None:  # type: ignore[no-untyped-def]
    slept: list[float] = []
    api = PrometheusSource(served, retries=4, backoff_s=0.01, sleep=slept.append)
    with pytest.raises(GpufleetError, match=r"refused \(HTTP 400.*not retried"):
        api.query_raw("sum(", T, T + timedelta(minutes=1))
    assert slept == [] and api.stats.queries == 1 and api.stats.retries == 0


def test_credentials_never_reach_a_message(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: the error names the URL
    url = f"http://alice:s3cret-pw@127.0.0.1:{port}"
    with pytest.raises(GpufleetError) as e:
        PrometheusSource(url, retries=0, token="tok-123").query_raw("up", T, T + timedelta(minutes=1))
    assert "s3cret" not in str(e.value) and "alice" not in str(e.value) and "***@127.0.0.1" in str(e.value)
    res = CliRunner().invoke(
        app, ["collect", "prometheus", "--url", url, "--store", str(tmp_path / "s"), "--since", "1h", "--no-jobs"]
    )
    assert res.exit_code == 2
    assert "s3cret" not in res.output and "alice" not in res.output and "tok-" not in res.output
