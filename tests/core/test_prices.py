"""The price table: built-in list prices, a user's prices.yaml merged over them, tiers, pools, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.core.gpus import known_gpu_models
from gpufleet.core.prices import HOURS_PER_MONTH, default_prices, dollars, load_prices, price_key


def test_defaults_price_the_common_types_with_source_and_date() -> None:
    t = default_prices()
    assert t.currency == "USD"
    for key in ("H100", "A100-80GB", "A100-40GB", "L40S", "L4", "A10G", "V100", "T4", "P100", "K80"):
        p = t.gpus[key]
        assert p.on_demand is not None and 0 < p.on_demand < 50, key
        assert p.source and p.date, key
    # $/GPU-hour is the instance's hourly price over its GPUs: p5.48xlarge is 8 H100 at $98.32/h
    assert t.rate("H100") == pytest.approx(98.32 / 8, abs=1e-4)
    assert "p5.48xlarge" in (t.gpus["H100"].source or "")
    # newer parts cost more per hour than older ones
    rates = [t.rate(g) or 0.0 for g in ("H100", "A100", "V100", "T4")]
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0


def test_trace_names_resolve_to_a_price() -> None:
    t = default_prices()
    assert t.rate("A100-SXM4-80GB") == t.rate("A100") == t.rate("a100-80gb") == t.rate("NVIDIA A100-PCIE-80GB")
    assert t.rate("H800") == t.rate("H100-80GB") == t.rate("H100")
    assert t.rate("V100M32") == t.rate("V100-32GB") != t.rate("V100M16")
    # every model core.gpus knows is priced except the ones documented as unpriced by default
    unpriced = {m for m in known_gpu_models() if t.rate(m) is None}
    assert unpriced == {"M60", "H200"}
    assert price_key(" nvidia_h100 ") == "H100"


def test_unknown_type_is_none_never_zero() -> None:
    t = default_prices()
    for name in ("G2", "GPU-series-1", "MISC", "GPU", "", None):
        assert t.rate(name) is None
    cost, unpriced = t.cost({"H100": 10.0, "G2": 3.0})
    assert cost is None and unpriced == 3.0
    cost, unpriced = t.cost({"H100": 10.0, "T4": 2.0})
    assert cost == pytest.approx(10 * 98.32 / 8 + 2 * 0.526, abs=1e-3) and unpriced == 0


def test_yaml_merges_over_defaults_with_tiers_and_pools(tmp_path: Path) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text(
        "gpus:\n"
        "  H100: {spot: 3.5, reserved: 6.0}\n"
        "  a100: 3.0\n"
        "  MI300X: {on_demand: 6.0}\n"
        "pools:\n"
        "  reserved-a:\n"
        "    H100: {on_demand: 4.0}\n"
    )
    t = load_prices(f)
    base = default_prices()
    assert t.rate("H100") == base.rate("H100")  # kept: the user gave other tiers only
    assert t.rate("H100", tier="spot") == 3.5 and t.rate("H100", tier="reserved") == 6.0
    assert t.rate("A100-SXM4-80GB") == 3.0  # the alias the user wrote is the same key
    assert t.rate("MI300X") == 6.0
    assert t.rate("T4") == base.rate("T4")
    assert t.rate("H100", pool="reserved-a") == 4.0
    assert t.rate("H100", pool="reserved-a", tier="spot") == 3.5  # the pool has no spot price: the table's
    assert t.rate("H100", pool="other") == base.rate("H100")
    assert t.rate("T4", tier="spot") is None  # no tier is made up from another
    assert "prices.yaml" in t.priced_by() and "built-in" in t.priced_by()
    assert load_prices(None).priced_by().startswith("priced by: built-in list prices")


def test_flat_yaml_and_csv_are_on_demand_tables(tmp_path: Path) -> None:
    flat = tmp_path / "p.yaml"
    flat.write_text("H100: 2.5\nT4: 0.3\n")
    assert load_prices(flat).rate("H100") == 2.5
    csv = tmp_path / "p.csv"
    csv.write_text("gpu_model,price,tier,pool\nH100,2.0,,\nH100,1.0,spot,\nT4,0.1,,cheap\n")
    t = load_prices(csv)
    assert (t.rate("H100"), t.rate("H100", tier="spot"), t.rate("T4", pool="cheap")) == (2.0, 1.0, 0.1)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("gpus:\n  H100: {on_demand: -1}\n", "gpus.H100.on_demand"),
        ("gpus:\n  H100: {ondemand: 1}\n", "gpus.H100.ondemand"),
        ("gpus:\n  H100: lots\n", "gpus.H100"),
        ("currency: EUR\n", "currency"),
        ("gpus: [1, 2\n", "not valid YAML"),
        ("- 1\n- 2\n", "not a price table"),
        ("gpus:\n  H100: .nan\n", "gpus.H100.on_demand"),
    ],
)
def test_bad_file_is_one_line_naming_file_and_field(tmp_path: Path, text: str, expect: str) -> None:
    f = tmp_path / "prices.yaml"
    f.write_text(text)
    with pytest.raises(GpufleetError) as e:
        load_prices(f)
    msg = str(e.value)
    assert "\n" not in msg and str(f) in msg and expect in msg, msg


def test_bad_csv_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("gpu_model,price\nH100,cheap\n")
    with pytest.raises(GpufleetError, match=r"row 2: price"):
        load_prices(f)
    with pytest.raises(GpufleetError, match=r"--prices .*nope.yaml: cannot read"):
        load_prices(tmp_path / "nope.yaml")


def test_dollars_is_the_one_formatter() -> None:
    assert dollars(1234.561) == "$1,234.56"
    assert dollars(0.42) == "$0.42"
    assert dollars(None) == "-"
    assert dollars(float("nan")) == "-"
    assert dollars(-12.5) == "-$12.50"
    assert dollars(-0.001) == "$0.00"
    assert dollars(3_000_000) == "$3,000,000.00"
    assert dollars(1_988_715.6, whole=True) == "$1,988,716" and dollars(None, whole=True) == "-"
    assert HOURS_PER_MONTH == 365 * 24 / 12
