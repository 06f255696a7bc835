"""What a GPU-hour costs: the one price table every summary's dollars come from, and the one currency formatter.

The built-in prices are public on-demand list prices ($ per GPU-hour: an instance's hourly price divided by its
GPUs), each with its source and date (docs/cost.md); a user's prices.yaml (per type, per pool, reserved and spot
tiers) is merged over them. A GPU type the table does not price is `None`, never 0: callers report its GPU-hours
as unpriced rather than adding nothing to a total.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Tier = Literal["on_demand", "reserved", "spot"]
TIERS: tuple[Tier, ...] = ("on_demand", "reserved", "spot")
HOURS_PER_MONTH = 730.0  # 365 x 24 / 12: the month cloud price pages quote

BUILT_IN = "built-in list prices (AWS on-demand, us-east-1, as published 2024)"

# Names the traces and specs use for one priced model -> the table's key. The 80 GB part is what `A100` means
# in core.gpus; A800/H800 are the export variants of the A100/H100 (same chip, slower interconnect) and are
# priced as them; V100M16/M32 are Alibaba's names for the 16/32 GB V100; A10 is priced as AWS's A10G variant.
_ALIASES = {
    "A100": "A100-80GB",
    "A100-SXM4-80GB": "A100-80GB",
    "A100-PCIE-80GB": "A100-80GB",
    "A100-SXM-80GB": "A100-80GB",
    "A800": "A100-80GB",
    "A800-SXM4-80GB": "A100-80GB",
    "A100-SXM4-40GB": "A100-40GB",
    "A100-PCIE-40GB": "A100-40GB",
    "H100-80GB": "H100",
    "H100-SXM5-80GB": "H100",
    "H100-PCIE-80GB": "H100",
    "H800": "H100",
    "V100M16": "V100",
    "V100-16GB": "V100",
    "V100-SXM2-16GB": "V100",
    "V100M32": "V100-32GB",
    "V100-SXM2-32GB": "V100-32GB",
    "A10": "A10G",
}


def price_key(gpu_type: str) -> str:
    """The table's key for a GPU type name: case and vendor prefix ignored, known aliases resolved."""
    name = gpu_type.strip().upper().replace("_", "-").replace(" ", "-")
    for prefix in ("NVIDIA-", "TESLA-", "AMD-"):
        name = name.removeprefix(prefix)
    return _ALIASES.get(name, name)


class Price(BaseModel):
    """$ per GPU-hour of one GPU type, per tier; `source` and `date` say where a built-in figure comes from."""

    model_config = ConfigDict(extra="forbid")

    on_demand: float | None = Field(None, ge=0, description="on-demand $ per GPU-hour")
    reserved: float | None = Field(None, ge=0, description="reserved / committed-use $ per GPU-hour")
    spot: float | None = Field(None, ge=0, description="spot / preemptible $ per GPU-hour")
    source: str | None = Field(None, description="where the figure comes from (instance, price, page)")
    date: str | None = Field(None, description="when it was published")

    @field_validator("on_demand", "reserved", "spot")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number of dollars per GPU-hour")
        return v

    @model_validator(mode="before")
    @classmethod
    def _number_is_on_demand(cls, data: Any) -> Any:
        # `H100: 4.1` in prices.yaml is the on-demand price: the common case stays one line
        return {"on_demand": data} if isinstance(data, int | float) and not isinstance(data, bool) else data

    def merged(self, over: Price) -> Price:
        """This price with `over`'s set fields on top (a user's spot price keeps the built-in on-demand one)."""
        return self.model_copy(update=over.model_dump(exclude_unset=True))


class PriceTable(BaseModel):
    """$ per GPU-hour per GPU type and tier, with optional per-pool overrides; currency USD."""

    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"] = "USD"
    name: str = Field(BUILT_IN, description="which table this is, as outputs say it ('priced by: ...')")
    gpus: dict[str, Price] = Field(default_factory=dict, description="GPU type -> its prices")
    pools: dict[str, dict[str, Price]] = Field(
        default_factory=dict, description="pool -> GPU type -> prices that differ in that pool"
    )

    @field_validator("gpus")
    @classmethod
    def _canonical_keys(cls, v: dict[str, Price]) -> dict[str, Price]:
        return {price_key(k): p for k, p in v.items()}

    @field_validator("pools")
    @classmethod
    def _canonical_pool_keys(cls, v: dict[str, dict[str, Price]]) -> dict[str, dict[str, Price]]:
        return {pool: {price_key(k): p for k, p in types.items()} for pool, types in v.items()}

    def rate(self, gpu_type: str | None, pool: str | None = None, tier: str = "on_demand") -> float | None:
        """$ per GPU-hour of `gpu_type` (in `pool` when it has its own price) at `tier`; None when unpriced."""
        if not gpu_type or tier not in TIERS:
            return None
        key = price_key(gpu_type)
        if pool is not None:
            own = self.pools.get(pool, {}).get(key)
            if own is not None and getattr(own, tier) is not None:
                return float(getattr(own, tier))
        p = self.gpus.get(key)
        v = getattr(p, tier) if p is not None else None
        return None if v is None else float(v)

    def cost(
        self,
        gpu_hours: Mapping[str, float] | Mapping[str | None, float],
        pool: str | None = None,
        tier: str = "on_demand",
    ) -> tuple[float | None, float]:
        """($ of GPU-hours per type, GPU-hours of unpriced types): the $ is None when any hours are unpriced,
        so a partial sum never passes for a total."""
        total, unpriced = 0.0, 0.0
        for gpu_type, hours in gpu_hours.items():
            r = self.rate(gpu_type, pool, tier)
            if r is None:
                unpriced += hours
            else:
                total += hours * r
        return (None if unpriced > 0 else total), unpriced

    def priced_by(self) -> str:
        """What outputs print under their dollars: 'priced by: <table>'."""
        return f"priced by: {self.name}"


def _aws(instance: str, price: float, gpus: int) -> Price:
    return Price(
        on_demand=round(price / gpus, 4),
        source=f"AWS EC2 {instance}: ${price:,.4g}/h for {gpus} GPU{'s' if gpus > 1 else ''}"
        " (aws.amazon.com/ec2/pricing/on-demand/, Linux, us-east-1)",
        date="2024",
    )


def default_prices() -> PriceTable:
    """The built-in table: on-demand list prices of one public cloud (docs/cost.md lists them with sources)."""
    return PriceTable(
        gpus={
            "H100": _aws("p5.48xlarge", 98.32, 8),
            "A100-80GB": _aws("p4de.24xlarge", 40.9657, 8),
            "A100-40GB": _aws("p4d.24xlarge", 32.7726, 8),
            "L40S": _aws("g6e.xlarge", 1.861, 1),
            "L4": _aws("g6.xlarge", 0.8048, 1),
            "A10G": _aws("g5.xlarge", 1.006, 1),
            "V100": _aws("p3.2xlarge", 3.06, 1),
            "V100-32GB": _aws("p3dn.24xlarge", 31.212, 8),
            "T4": _aws("g4dn.xlarge", 0.526, 1),
            "K80": _aws("p2.xlarge", 0.90, 1),
            # AWS never offered the P100: Google Cloud's per-GPU price (GPU only, the VM is extra)
            "P100": Price(
                on_demand=1.46,
                source="Google Cloud NVIDIA P100 attached to an N1 VM: $1.46 per GPU-hour, GPU only"
                " (cloud.google.com/compute/gpus-pricing, us-central1)",
                date="2024",
            ),
        }
    )


def load_prices(path: Path | None) -> PriceTable:
    """The built-in table, with a user's prices.yaml (or CSV gpu_model,price[,tier][,pool]) merged over it; a bad
    file or field is one line naming the file and the field."""
    base = default_prices()
    if path is None:
        return base
    from gpufleet.core.config import read_user_text, validate_model

    where = f"--prices {path}"
    text = read_user_text(path, "--prices")
    raw = _csv_rows(text, where) if path.suffix.lower() == ".csv" else _yaml_doc(text, where)
    user = validate_model(raw, PriceTable, where)
    gpus = dict(base.gpus)
    for k, p in user.gpus.items():
        gpus[k] = gpus[k].merged(p) if k in gpus else p
    name = user.name if "name" in user.model_fields_set else f"{path.name} over {base.name}"
    return PriceTable(name=name, gpus=gpus, pools=user.pools)


def _yaml_doc(text: str, where: str) -> Any:
    import yaml

    from gpufleet.core.errors import GpufleetError, brief

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GpufleetError(f"{where}: not valid YAML ({brief(e)})") from None
    if raw is not None and not isinstance(raw, dict):
        raise GpufleetError(f"{where}: not a price table (a mapping of currency, gpus, pools is expected)")
    # the dashboard's first format, `{gpu_model: $ per GPU-hour}`, is a table of on-demand prices
    if raw and not {"currency", "name", "gpus", "pools"} & set(raw):
        raw = {"gpus": raw}
    return raw


def _csv_rows(text: str, where: str) -> dict[str, Any]:
    import csv

    from gpufleet.core.errors import GpufleetError

    reader = csv.DictReader(text.splitlines())
    missing = {"gpu_model", "price"} - set(reader.fieldnames or [])
    if missing:
        raise GpufleetError(f"{where}: no column {', '.join(sorted(missing))} (columns: gpu_model,price[,tier][,pool])")
    gpus: dict[str, dict[str, Any]] = {}
    pools: dict[str, dict[str, dict[str, Any]]] = {}
    for i, row in enumerate(reader, start=2):
        tier, pool = (row.get("tier") or "on_demand").strip(), (row.get("pool") or "").strip()
        if tier not in TIERS:
            raise GpufleetError(f"{where}: row {i}: tier: {tier!r} is not one of {', '.join(TIERS)}")
        try:
            value = float(row["price"])
        except (TypeError, ValueError):
            raise GpufleetError(f"{where}: row {i}: price: {row['price']!r} is not a number") from None
        into = pools.setdefault(pool, {}) if pool else gpus
        into.setdefault(row["gpu_model"], {})[tier] = value
    return {"gpus": gpus, "pools": pools}


def dollars(x: float | None, whole: bool = False) -> str:
    """The one currency formatter: '$1,234.56', '-$0.42' for a loss, '-' for an unpriced (None) amount; `whole`
    rounds to dollars ('$1,988,716') where cents would only widen a table of large sums."""
    if x is None or math.isnan(x):
        return "-"
    digits = 0 if whole else 2
    v = round(x, digits)
    return f"-${-v:,.{digits}f}" if v < 0 else f"${abs(v):,.{digits}f}"
