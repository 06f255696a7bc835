"""The observability pack without a cluster: the Grafana dashboard is a valid dashboard (Grafana's published
schema), the PrometheusRule's groups pass `promtool check rules`, every dashboard expression parses (as a
recording rule), the cost panel's price is the one `gpufleet cost` uses, and the ServiceMonitors scrape the
ports the Services expose. Which metrics exist is checked against live processes in test_observability_live."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.deploy import crd
from tests.deploy.promql import (
    as_recording_rules,
    dashboard,
    dashboard_exprs,
    metric_names,
    promtool_check,
    rule_exprs,
    rule_groups,
)
from tests.deploy.render import one, render

from gpufleet.testing.prometheus import have_prometheus


def need_promtool() -> None:
    if not have_prometheus():
        pytest.skip("Debian package 'prometheus' (promtool) not installed (make test installs it with apt-get)")


def test_the_dashboard_is_a_valid_grafana_dashboard() -> None:
    d = dashboard()
    assert crd.grafana_errors(d) == []
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    titles = " | ".join(p["title"] for p in d["panels"])
    for topic in ("Desired vs actual replicas", "Forecast vs demand", "GPU utilization by namespace", "GPU-hours", "$"):
        assert topic in titles


def test_the_dashboard_is_shipped_in_the_configmap_grafana_loads() -> None:
    import json

    cm = one(render("observability"), "ConfigMap", "gpufleet-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["gpufleet.json"]) == dashboard()


def test_the_grafana_schema_check_is_strict() -> None:
    d = dashboard()
    d["panels"][0]["gridPos"]["w"] = 25
    d["panels"][1]["tagets"] = d["panels"][1].pop("targets")
    errs = crd.grafana_errors(d)
    assert any("25" in e for e in errs) and any("tagets" in e for e in errs)


def test_the_price_constant_is_gpufleet_costs_a100_price() -> None:
    from gpufleet.core.prices import default_prices

    (v,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "price_per_gpu_hour"]
    assert v["type"] == "constant"
    on_demand = default_prices().gpus["A100-80GB"].on_demand
    assert on_demand is not None and float(v["query"]) == pytest.approx(on_demand)
    assert any("$price_per_gpu_hour" in t["expr"] for p in dashboard()["panels"] for t in p["targets"])


def test_the_alert_rules_pass_promtool(tmp_path: Path) -> None:
    need_promtool()
    out = promtool_check(rule_groups(), tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    n = sum(len(g["rules"]) for g in rule_groups())
    assert f"SUCCESS: {n} rules found" in out.stdout
    alerts = {r["alert"] for g in rule_groups() for r in g["rules"]}
    assert {
        "GpufleetTelemetryStale",
        "GpufleetDecisionErrors",
        "GpufleetFallbackEngaged",
        "GpufleetScalerUnreachable",
        "GpufleetDecisionLoopStalled",
        "GpufleetCollectorLagging",
        "GpufleetCollectorSourceDown",
    } <= alerts


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    need_promtool()
    exprs = dashboard_exprs()
    out = promtool_check(as_recording_rules(exprs), tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in out.stdout


def test_promtool_refuses_a_broken_expression(tmp_path: Path) -> None:
    """The two checks above can fail: an unbalanced expression is refused."""
    need_promtool()
    out = promtool_check(as_recording_rules(["sum by (namespace (gpufleet_desired_replicas)"]), tmp_path)
    assert out.returncode != 0


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job=~".*gpufleet-hook.*"} == 0', {"up"}),
        (
            "(time() - gpufleet_loop_last_tick_timestamp_seconds) > 4 * gpufleet_loop_interval_seconds",
            {"gpufleet_loop_last_tick_timestamp_seconds", "gpufleet_loop_interval_seconds"},
        ),
        (
            'sum by (ns) (sum_over_time(count by (ns) (DCGM_FI_DEV_GPU_UTIL{ns!="a b"})[1h:1m])) / 60',
            {"DCGM_FI_DEV_GPU_UTIL"},
        ),
        ("sum by (namespace, model_name) (rate(vllm:request_success_total[5m]))", {"vllm:request_success_total"}),
        ("a / on (x) group_left (y) b offset 5m and bool c", {"a", "b", "c"}),
    ],
)
def test_metric_names_are_read_from_selectors(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_expression_names_some_metric() -> None:
    for e in rule_exprs() + dashboard_exprs():
        assert metric_names(e), e


def test_the_servicemonitors_scrape_the_services_ports() -> None:
    mons = {m["metadata"]["name"]: m for m in render("observability") if m["kind"] == "ServiceMonitor"}
    assert set(mons) == {"gpufleet-hook", "gpufleet-collector", "gpufleet-exporter"}
    for name, mon in mons.items():
        svc = one(render(name.removeprefix("gpufleet-")), "Service", name)
        assert mon["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        ports = {p["name"] for p in svc["spec"]["ports"]}
        assert all(ep["port"] in ports for ep in mon["spec"]["endpoints"])
    hook = mons["gpufleet-hook"]["spec"]["endpoints"][0]
    cert = one(render("hook"), "Certificate", "gpufleet-hook")
    assert hook["scheme"] == "https" and hook["tlsConfig"]["serverName"] in cert["spec"]["dnsNames"]
    assert hook["tlsConfig"]["ca"]["secret"] == {"name": cert["spec"]["secretName"], "key": "ca.crt"}
    # the workload's namespace label must survive the scrape (else it becomes exported_namespace)
    assert hook["honorLabels"] and mons["gpufleet-exporter"]["spec"]["endpoints"][0]["honorLabels"]
