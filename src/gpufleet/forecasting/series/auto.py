"""auto: per series, select or combine member forecasters by their errors on a rolling validation window.

At fit time the history is cut at `val_windows` origins before its end (the last windows of `horizon` steps,
in time, as the backtest does); every member is fitted on the part before each cut and scored on the observed
values after it. Per series and member that gives a validation MAE, and the rule turns those into weights:
- `best`: all weight on the member with the lowest MAE (ties go to the earlier member: the simple ones come
  first, so a learned model must win to be used);
- `top2`: the two best, equal weights (the M4/M5 lesson: combining beats picking);
- `inverse`: weights proportional to 1 / MAE over all members; `inverse2`: to 1 / MAE^2 (sharper).
`scope="series"` applies the rule to each series' own errors, `"global"` to the errors pooled over series
(one choice for all); a series with no validation point (it started after the cuts) gets the pooled choice.
Then the members with any weight are refitted on the whole history and their forecasts (means and interval
ends) are averaged with the weights; a convex combination keeps lo <= mean <= hi and stays inside the bounds.
Series shorter than `min_points` are forecast by naive-last and listed in `fallbacks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Self

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from gpufleet.forecasting.series.base import DEFAULT_LEVELS, EPOCH, FORECASTERS, ForecasterSettings
from gpufleet.forecasting.series.bounds import Bounds
from gpufleet.forecasting.series.panel import Panel, check_levels, to_us
from gpufleet.forecasting.series.prepare import prepare

NAIVE = "naive-last"
SHARED = ("seed", "season_length", "weekly", "step_s")


class AutoSettings(ForecasterSettings):
    """Members, validation windows and the rule that turns validation errors into weights."""

    members: tuple[str, ...] = Field(
        ("naive-last", "window-mean", "lightgbm", "lightgbm-direct"),
        description="forecasters to choose from, simplest first (ties go to the earlier one)",
    )
    horizon: int = Field(24, ge=1, description="steps per validation window (and the horizon members calibrate)")
    val_windows: int = Field(3, ge=1, description="validation windows before the end of the history")
    rule: Literal["best", "top2", "inverse", "inverse2"] = Field(
        "inverse", description="how validation MAEs become weights"
    )
    scope: Literal["series", "global"] = Field(
        "series", description="rule per series, or once on the errors pooled over series"
    )
    min_points: int = Field(24, ge=1, description="series with fewer points are forecast by naive-last")
    member_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="settings per member name, e.g. {'window-mean': {'window': 6}}"
    )

    @field_validator("members")
    @classmethod
    def _registered(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for m in v:
            if m == "auto":
                raise ValueError("auto cannot be its own member")
            if m not in FORECASTERS:
                raise ValueError(f"unknown forecaster {m!r}; valid: {', '.join(n for n in FORECASTERS if n != 'auto')}")
        return v


def weights(mae: np.ndarray, rule: str) -> np.ndarray:
    """Weights (members,) from validation MAEs (NaN: not scored; all NaN gives NaN weights)."""
    ok = np.isfinite(mae)
    w = np.zeros(len(mae))
    if not ok.any():
        return np.full(len(mae), np.nan)
    order = [int(i) for i in np.argsort(np.where(ok, mae, np.inf), kind="stable") if ok[i]]
    if rule == "best" or len(order) == 1:
        w[order[0]] = 1.0
    elif rule == "top2":
        w[order[:2]] = 0.5
    else:
        if mae[order[0]] <= 0:
            w[order[0]] = 1.0
        else:
            w[ok] = mae[ok] ** -(2.0 if rule == "inverse2" else 1.0)
            w /= w.sum()
    return w


@FORECASTERS.register("auto")
class AutoForecaster:
    """Members weighted per series by their rolling-validation errors; see the module doc.

    Learned: its weights are fitted on validation errors (and its default members include learned models),
    even when the members it ends up weighting are rules."""

    Settings: ClassVar[type[ForecasterSettings]] = AutoSettings
    learned: ClassVar[bool] = True
    needs_history: ClassVar[bool] = True

    def __init__(self, settings: ForecasterSettings | None = None) -> None:
        settings = AutoSettings() if settings is None else settings
        if not isinstance(settings, AutoSettings):
            raise TypeError(f"AutoForecaster takes AutoSettings, got {type(settings).__name__}")
        self.settings = settings  # members checked by AutoSettings: registered, and not auto itself
        self.fallbacks: dict[str, str] = {}
        self.info: dict[str, float] = {}
        self.choice: dict[str, dict[str, float]] = {}  # unique_id -> member -> weight
        self.validation_mae: dict[str, dict[str, float]] = {}  # member -> unique_id -> MAE
        self._fitted: dict[str, Any] = {}
        self._ids: list[str] = []

    @classmethod
    def warm_up(cls) -> None:
        """Import every default member's dependencies."""
        for m in AutoSettings().members:
            FORECASTERS.get(m).warm_up()

    def _member(self, name: str, validating: bool) -> Any:
        s = self.settings
        fields = FORECASTERS.settings_model(name).model_fields
        cfg: dict[str, Any] = {k: getattr(s, k) for k in SHARED}
        if "horizon" in fields:
            cfg["horizon"] = s.horizon
        if validating and "conformal" in fields:
            cfg["conformal"] = False  # validation uses point forecasts only: skip the interval calibration
        cfg |= s.member_settings.get(name, {})
        return FORECASTERS.build(name, cfg)

    def fit(
        self, df: pl.DataFrame, *, bounds: Bounds | None = None, ends: Mapping[str, datetime] | None = None
    ) -> Self:
        """Score the members on the validation windows, weight them per series, refit those with weight."""
        s = self.settings
        step = timedelta(seconds=s.step_s) if s.step_s else None
        prep = prepare(df, step)
        self.info = prep.info
        panel = Panel.from_frame(prep.frame, prep.step, prep.observed)
        if ends:
            panel = panel.extended({k: to_us(v - EPOCH) for k, v in ends.items()})
        self._ids = panel.ids
        short = {uid for uid, n in zip(panel.ids, panel.lengths, strict=True) if n < s.min_points}
        self.fallbacks = {
            uid: f"{int(n)} points < min_points {s.min_points}; forecast by naive"
            for uid, n in zip(panel.ids, panel.lengths, strict=True)
            if uid in short
        }
        mae = self._validate(df, panel, prep.step, bounds)
        members = list(s.members)
        pooled = weights(np.array([mae[m].get("__pooled__", np.nan) for m in members]), s.rule)
        self.choice = {}
        for uid in panel.ids:
            if uid in short:
                w = np.array([1.0 if m == NAIVE else 0.0 for m in members])
                if NAIVE not in members:
                    w = np.zeros(len(members))
            elif s.scope == "series":
                w = weights(np.array([mae[m].get(uid, np.nan) for m in members]), s.rule)
                if not np.isfinite(w).all():
                    w = pooled
            else:
                w = pooled
            if not np.isfinite(w).all():  # nothing was scored anywhere: the last value
                w = np.array([1.0 if m == NAIVE else 0.0 for m in members])
            self.choice[uid] = {m: float(x) for m, x in zip(members, w, strict=True) if x > 0}
        self.validation_mae = {m: {k: v for k, v in mae[m].items() if k != "__pooled__"} for m in members}
        used = {m for c in self.choice.values() for m in c} | ({NAIVE} if short else set())
        self._fitted = {m: self._member(m, False).fit(df, bounds=bounds, ends=ends) for m in members if m in used}
        if short and NAIVE not in self._fitted:
            self._fitted[NAIVE] = FORECASTERS.build(NAIVE, {"step_s": s.step_s}).fit(df, bounds=bounds, ends=ends)
        for uid in short:
            self.choice[uid] = {NAIVE: 1.0}
        return self

    def _validate(
        self, df: pl.DataFrame, panel: Panel, step: timedelta, bounds: Bounds | None
    ) -> dict[str, dict[str, float]]:
        """member -> unique_id -> validation MAE (observed points only), plus '__pooled__' over all series."""
        s = self.settings
        H, step_us = s.horizon, to_us(step)
        err: dict[str, dict[str, list[float]]] = {m: {} for m in s.members}
        if not panel.ids:
            return {m: {} for m in s.members}
        t_end = int(panel.last_us.max())
        ds_us = df.get_column("ds").dt.epoch("us")
        for v in range(1, s.val_windows + 1):
            cut = t_end - (v * H - 1) * step_us
            live = [i for i in range(len(panel.ids)) if panel.first_us[i] < cut <= panel.last_us[i]]
            if not live:
                continue
            ends = {panel.ids[i]: EPOCH + timedelta(microseconds=cut - step_us) for i in live}
            truth = self._truth(panel, live, cut, H)
            train = df.filter(ds_us < cut)
            for m in s.members:
                pred = self._member(m, True).fit(train, bounds=bounds, ends=ends).predict(H, [80])
                j = truth.join(
                    pred.select("unique_id", pl.col("ds").dt.epoch("us").alias("t"), "mean"), on=["unique_id", "t"]
                )
                for uid, e in j.group_by("unique_id").agg((pl.col("y") - pl.col("mean")).abs()).iter_rows():
                    err[m].setdefault(uid, []).extend(e)
        out: dict[str, dict[str, float]] = {}
        # pool only the points every member scored, so the pooled comparison is like for like
        common = set.intersection(*(set(e) for e in err.values())) if err else set()
        for m, per in err.items():
            out[m] = {uid: float(np.mean(e)) for uid, e in per.items() if e}
            pooled = [x for uid in sorted(common) for x in per[uid]]
            if pooled:
                out[m]["__pooled__"] = float(np.mean(pooled))
        return out

    @staticmethod
    def _truth(panel: Panel, live: list[int], cut: int, H: int) -> pl.DataFrame:
        """Observed values of the live series in the window [cut, cut + H steps)."""
        ids, ts, ys = [], [], []
        for i in live:
            k0 = (cut - int(panel.first_us[i])) // panel.step_us
            y, obs = panel.values[i][k0 : k0 + H], panel.mask(i)[k0 : k0 + H]
            t = cut + panel.step_us * np.arange(len(y), dtype=np.int64)
            ids += [panel.ids[i]] * int(obs.sum())
            ts.append(t[obs])
            ys.append(y[obs])
        return pl.DataFrame(
            {"unique_id": pl.Series(ids, dtype=pl.Utf8), "t": np.concatenate(ts), "y": np.concatenate(ys)}
        )

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> pl.DataFrame:
        """The weighted average of the chosen members' forecasts, per series."""
        if not self._fitted and not self._ids:
            raise RuntimeError("AutoForecaster.predict called before fit")
        lv = check_levels(levels)
        if isinstance(h, bool) or int(h) != h or h < 1:
            raise ValueError(f"h must be a positive whole number of steps, got {h!r}")
        cols = ["mean", *(c for x in lv for c in (f"lo-{x}", f"hi-{x}"))]
        w = pl.DataFrame(
            [(uid, m, wt) for uid, c in self.choice.items() for m, wt in c.items()],
            schema={"unique_id": pl.Utf8, "member": pl.Utf8, "w": pl.Float64},
            orient="row",
        )
        preds = [f.predict(int(h), lv).with_columns(pl.lit(m).alias("member")) for m, f in self._fitted.items()]
        out = (
            pl.concat(preds)
            .join(w, on=["unique_id", "member"])
            .group_by("unique_id", "ds")
            .agg(*((pl.col(c) * pl.col("w")).sum() / pl.col("w").sum() for c in cols))
            .sort("unique_id", "ds")
        )
        return out.select("unique_id", "ds", *cols)
