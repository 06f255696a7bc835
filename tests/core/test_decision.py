"""The hook's Decision is defined once: the store's DECISIONS table, the HTTP answer and the rows read back all
follow its fields, and a decision survives the store (unknown numbers included)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from gpufleet.collector.store import Store
from gpufleet.core.decision import Decision, PublicDecision, decisions_frame
from gpufleet.core.schemas import DECISIONS, UTC_DT

EPOCH = 1_767_225_600.0  # 2026-01-01 UTC


def _decision(status: str = "ok", **kw: float) -> Decision:
    values: dict[str, object] = dict(
        ts=EPOCH + 0.25,
        namespace="llm",
        workload="chat",
        policy="kpa",
        status=status,
        current_replicas=3,
        desired_replicas=5,
        raw=4.6,
        concurrency=30.0,
        arrival_rate=2.5,
        forecast_hi=math.nan,
        service_s=12.0,
        telemetry_age_s=4.0,
        latency_ms=0.7,
        reason="in flight now",
    )
    return Decision.model_validate(values | kw)


def test_table_columns_are_the_records_fields() -> None:
    assert DECISIONS.names == list(Decision.model_fields)
    assert DECISIONS.by_name["ts"].dtype == UTC_DT and DECISIONS.by_name["desired_replicas"].check == "nonneg"
    required = {c.name for c in DECISIONS.columns if c.required}
    assert required == {"ts", "namespace", "workload", "status", "desired_replicas"}
    assert DECISIONS.by_name["raw"].doc == Decision.model_fields["raw"].description
    assert set(PublicDecision.model_fields) == set(Decision.model_fields) | {"time"}


def test_decisions_survive_the_store(tmp_path: Path) -> None:
    ok = _decision()
    held = _decision(
        "stale", ts=EPOCH + 15, raw=math.nan, concurrency=math.nan, telemetry_age_s=math.inf, desired_replicas=2
    )
    store = Store(tmp_path / "store")
    store.append("DECISIONS", "hook", decisions_frame([ok, held]), ["namespace", "workload"])
    rows = store.scan("DECISIONS").sort("ts").collect()
    assert rows["raw"].null_count() == 1 and rows["telemetry_age_s"].null_count() == 1, "unknown is null, not NaN"
    back = [Decision.from_row(r) for r in rows.iter_rows(named=True)]
    assert back[0] == ok
    assert back[1].status == "stale" and back[1].desired_replicas == 2
    assert math.isnan(back[1].raw) and math.isnan(back[1].telemetry_age_s)  # +inf (no sample) comes back unknown


def test_public_form_is_json_with_unknown_as_null() -> None:
    d = _decision(telemetry_age_s=math.inf)
    pub = d.public()
    assert (
        pub["forecast_hi"] is None
        and pub["telemetry_age_s"] is None
        and pub["time"] == "2026-01-01T00:00:00.250000+00:00"
    )
    assert PublicDecision.model_validate(pub).model_dump() == pub


def test_a_bad_record_is_refused() -> None:
    with pytest.raises(ValidationError, match="desired_replicas"):
        _decision(desired_replicas="many")  # type: ignore[arg-type]
