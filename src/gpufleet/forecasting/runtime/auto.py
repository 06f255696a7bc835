"""`auto`: champion/challenger over the runtime predictors, chosen on the trace's own recent past.

At every fit (a backtest origin, or each weekly refit of a replay) `auto` scores its members on a
validation window that lies just before the origin in time: the last `val_frac` of the jobs submitted
before it. Learned members are trained at the window's start (on what was known then), causal baselines
simply replay; each is scored against what is known at the origin, where a job still running counts
only with the error that is already certain (predicting less than it has run). A blend (geometric mean
of the two best) competes too. A learned member or a blend must beat the best baseline by `margin` to
be chosen, because a model that wins by a hair on one window tends to lose on the next trace; the
winner is then trained at the origin itself. Its p10/p90 are the members' own per-job quantiles; a point
member (`user-history`) gets Kaplan-Meier quantiles of its validation residuals (censored ones as lower
bounds) around its p50. `choice` records the member, every score and why.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from gpufleet.core.errors import GpufleetError, RegistryError
from gpufleet.core.registry import PolicySettings
from gpufleet.forecasting.runtime.adaptive import apply_moves, track_moves
from gpufleet.forecasting.runtime.base import PREDICTORS, RuntimePredictor
from gpufleet.forecasting.runtime.calibrate import (
    blend_quantiles,
    censored_log_errors,
    conformal_widen,
    geo_blend,
    move_ends,
    residual_offsets,
)
from gpufleet.forecasting.runtime.encode import TRACE_LOCAL, lacking_columns
from gpufleet.forecasting.runtime.features import runtime_features
from gpufleet.forecasting.runtime.known import TrainingSet, end_of_trace, known_at
from gpufleet.forecasting.runtime.rolling import rolling

BLEND = "blend"


class Learner(Protocol):
    """What `auto` asks of a learned member: train on a cutoff's knowledge, predict feature rows."""

    def train_known(self, own: TrainingSet, pool: TrainingSet | None = None) -> None: ...

    def predict_rows(self, feats: pl.DataFrame) -> np.ndarray: ...


class AutoSettings(PolicySettings):
    """Knobs of the champion/challenger selector (each field is CLI help)."""

    members: tuple[str, ...] = Field(
        ("user-history", "gpu-class", "lightgbm", "xgb-aft"), description="candidate predictors (PREDICTORS)"
    )
    blend: bool = Field(True, description="let the geometric mean of the two best members compete")
    # 0.4: chosen on the validation windows (60-80% by time) of the 7 ITP clusters and Philly among 0.15-0.5
    # (mean log-MAE 0.807 against 0.846 at 0.25); short windows chase noise (docs/results.md)
    val_frac: float = Field(0.4, gt=0, lt=1, description="latest share of known jobs that validates")
    # 0.05: on the leave-one-out validation runs with a logistic xgb-aft, learned members that won by 1-4% lost
    # on the next window (worst trace 1.16x the best baseline at 0.01, 1.11x at 0.05); with the shipped
    # normal xgb-aft 0.01-0.1 tie there, and the larger margin is the cautious one
    margin: float = Field(0.05, ge=0, description="relative validation gain a model needs over the best baseline")
    recenter: bool = Field(
        False, description="shift the chosen p50 by its median validation residual (follows a drifting trace)"
    )
    folds: int = Field(2, ge=1, description="consecutive validation parts a challenger must win in each")
    # member: SJF ranks by the geometric mean of p10/p50/p90, and constant offsets that change at every refit
    # shifted whole weeks against each other; on replays of the first 80% of ITP 02/04/06/07 the members'
    # own per-job quantiles gave SJF/oracle 1.112/1.021/1.270/1.122 against 1.125/1.027/1.281/1.182, at
    # about the same validation coverage (0.69-0.94 against 0.66-0.94)
    intervals: Literal["calibrated", "member"] = Field(
        "member", description="p10/p90 from validation residuals, or the chosen members' own per-job ones"
    )
    conformal: bool = Field(
        True, description="move the members' p10/p90 so that they cover 80% of the validation window"
    )
    # 0.05: on the validation windows (60-80%) of the 7 ITP clusters and Philly, both schemes, coverage of
    # 0.77-0.83 on all 8 (0.75-0.97 without); 0.03-0.2 all keep 8 of 8 inside 0.75-0.85, 0.05 is furthest
    # from the band's edges and the larger rates buy it with wider intervals (docs/results.md)
    adapt_rate: float = Field(
        0.05,
        ge=0,
        description="adaptive conformal: log move of both interval ends per finished job, up on a miss (x0.8), "
        "down on a hit (x0.2); 0 keeps the move calibrated at the fit",
    )
    # sticky: on the same replays SJF with auto went 1.586 -> 1.281x the oracle on cluster06 (weekly switches
    # between members), unchanged on 04/07, 1.100 -> 1.125 on 02
    sticky: bool = Field(True, description="rolling mode: keep the last champion unless beaten by the margin")
    min_val: int = Field(50, ge=5, description="finished validation jobs needed to choose; else the first baseline")
    refit_every_s: float = Field(7 * 86400.0, gt=0, description="rolling mode: choose and retrain this often")
    min_train: int = Field(200, ge=10, description="rolling mode: known jobs needed before the first choice")

    @field_validator("members")
    @classmethod
    def _members(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for m in v:
            try:
                member = PREDICTORS.get(m)
            except RegistryError as e:  # a ValueError names the field in the one-line error
                raise ValueError(str(e)) from None
            if m == "auto" or member.sees_future:  # it would choose the truth; itself: no end
                raise ValueError(f"auto cannot have {m!r} as a member")
        return v


@PREDICTORS.register("auto")
class AutoRuntime:
    """Picks the member (or blend) that predicted the trace's recent past best; calibrates its intervals."""

    Settings: ClassVar[type[AutoSettings]] = AutoSettings
    learned: ClassVar[bool] = True
    sees_future: ClassVar[bool] = False

    def __init__(self, settings: AutoSettings | None = None) -> None:
        self.settings = settings or AutoSettings()
        self.choice: dict[str, Any] | None = None
        self.chosen: tuple[str, ...] = ()
        self.fitted: dict[str, Learner] = {}
        self.offsets = np.zeros(3)
        self.widen = 0.0  # conformal move of both interval ends (log), from the validation window
        self.origin = -np.inf  # the fit's cutoff: outcomes known after it adapt the intervals (adaptive.py)
        # the best causal baseline of the last choice and its offsets: what still applies to a trace whose
        # users or names a learned member never saw (a saved model applied elsewhere)
        self.fallback: str | None = None
        self.fallback_offsets = np.zeros(3)
        self.notes: list[str] = []
        self.history: list[dict[str, Any]] = []  # rolling mode: one choice record per refit
        self.chosen_last: tuple[str, ...] = ()

    # -- choosing -----------------------------------------------------------------------------------
    def fit(self, jobs: pl.DataFrame) -> RuntimePredictor:
        """Choose on the end of a whole trace and train the winner on all of it."""
        return self.fit_at(jobs, end_of_trace(jobs))

    def fit_at(self, jobs: pl.DataFrame, origin: float, pool: TrainingSet | None = None) -> RuntimePredictor:
        """Score the members on the window before `origin`, keep the winner trained at `origin`."""
        feats = runtime_features(jobs)
        self._choose(jobs, feats, origin, pool, self._causal(jobs))
        self.origin = origin
        return self

    def _causal(self, jobs: pl.DataFrame) -> dict[str, np.ndarray]:
        # Causal members' predictions are the same whenever they are made: compute them once per trace.
        return {
            m: PREDICTORS.build(m).predict(jobs).select("p10", "p50", "p90").to_numpy()
            for m in self.settings.members
            if not PREDICTORS.get(m).learned
        }

    def _choose(
        self,
        jobs: pl.DataFrame,
        feats: pl.DataFrame,
        origin: float,
        pool: TrainingSet | None,
        causal: dict[str, np.ndarray],
        incumbent: tuple[str, ...] = (),
    ) -> None:
        s = self.settings
        sub = jobs["submit_time"].to_numpy().astype(float)
        order = np.argsort(sub, kind="stable")
        idx = order[sub[order] < origin]  # known jobs, by submit time
        n_val = int(len(idx) * s.val_frac)
        val = idx[len(idx) - n_val :]
        start = float(sub[val[0]]) if n_val else origin
        dur = jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
        done = np.isfinite(dur[val]) & (sub[val] + dur[val] <= origin)
        lower = np.where(done, dur[val], origin - sub[val])
        baselines = [m for m in s.members if m in causal]
        if done.sum() < s.min_val:
            first = baselines[0] if baselines else s.members[0]
            self._keep((first,), jobs, feats, origin, pool, causal, val, lower, done)
            self.choice = {"member": first, "why": f"only {int(done.sum())} finished validation jobs", "scores": {}}
            return
        before = known_at(jobs, start, feats)
        preds: dict[str, np.ndarray] = {}
        quants: dict[str, np.ndarray] = {}  # each member's (n_val, 3) quantiles, for the interval calibration
        for m in s.members:
            if m in causal:
                quants[m] = causal[m][val]
                preds[m] = quants[m][:, 1]
            elif before.finished.sum() >= 10:
                learner = self._learner(m)
                learner.train_known(before, pool)
                quants[m] = learner.predict_rows(feats[val])
                preds[m] = quants[m][:, 1]
        errs = {m: censored_log_errors(p, lower, done) for m, p in preds.items()}
        scores = {m: float(np.mean(e)) for m, e in errs.items()}
        ranked = sorted(scores, key=lambda m: (scores[m], s.members.index(m)))
        pair: tuple[str, ...] = ()
        if s.blend and len(ranked) >= 2:
            pair = tuple(ranked[:2])
            preds[BLEND] = geo_blend([preds[m] for m in pair])
            errs[BLEND] = censored_log_errors(preds[BLEND], lower, done)
            scores[BLEND] = float(np.mean(errs[BLEND]))
        plain = {m for m in causal} | ({BLEND} if pair and all(m in causal for m in pair) else set())
        best_base = min((m for m in scores if m in plain), key=lambda m: scores[m], default=None)
        # a challenger must beat the best baseline by `margin` on the whole window and on each of its
        # `folds` consecutive parts: one lucky stretch is not evidence that it holds on the next one
        parts = np.array_split(np.arange(len(val)), s.folds)
        ok = [
            m
            for m in scores
            if best_base is None
            or m == best_base
            or all(errs[m][k].mean() <= errs[best_base][k].mean() * (1 - s.margin) for k in parts if len(k))
        ]
        best = min(ok, key=lambda m: scores[m])
        if best_base is not None and best == best_base:
            better = min(scores, key=lambda m: scores[m])
            why = (
                "lowest validation log-MAE"
                if better == best_base
                else f"{better} was lower on validation but not by {s.margin:.0%} in each of {s.folds} parts"
            )
        else:
            why = f"beat the best baseline by {s.margin:.0%} in each of {s.folds} validation parts"
        pick = best
        members = pair if pick == BLEND else (pick,)
        # Rolling mode: the champion of the last refit stays unless the new pick beats it by `margin` in
        # each part too. A replay's queue holds jobs predicted at several refits, and SJF ranks them
        # against each other: a member switch every week shifts whole weeks of predictions.
        if s.sticky and incumbent and incumbent != members and all(m in preds for m in incumbent):
            key = "incumbent"
            preds[key] = geo_blend([preds[m] for m in incumbent])
            errs[key] = censored_log_errors(preds[key], lower, done)
            if not all(errs[pick][k].mean() <= errs[key][k].mean() * (1 - s.margin) for k in parts if len(k)):
                pick, members = key, incumbent
                why = f"kept the last champion: {best} did not beat it by {s.margin:.0%} in each part"
        self._keep(members, jobs, feats, origin, pool, causal, val, lower, done, preds[pick])
        if s.conformal and s.intervals == "member":
            self.widen = conformal_widen(blend_quantiles([quants[m] for m in members], self.offsets), lower, done)
        fb = min((m for m in scores if m in causal), key=lambda m: scores[m], default=None)
        if fb is not None:
            self.fallback, self.fallback_offsets = fb, self._offsets(preds[fb], lower, done)
        self.choice = {
            "member": BLEND + "(" + "+".join(members) + ")" if len(members) > 1 else members[0],
            "why": why,
            "scores": {k: round(v, 4) for k, v in scores.items()},
            "validation_jobs": int(n_val),
            "validation_censored": int((~done).sum()),
            "validation_from": start,
            "interval_offsets": [round(float(x), 4) for x in self.offsets],
            "interval_widen": round(self.widen, 4),
        }

    def _keep(
        self,
        members: tuple[str, ...],
        jobs: pl.DataFrame,
        feats: pl.DataFrame,
        origin: float,
        pool: TrainingSet | None,
        causal: dict[str, np.ndarray],
        val: np.ndarray,
        lower: np.ndarray,
        done: np.ndarray,
        val_p50: np.ndarray | None = None,
    ) -> None:
        self.chosen = members
        self.fitted = {}
        at_origin = known_at(jobs, origin, feats)
        for m in members:
            if m not in causal:
                learner = self._learner(m)
                learner.train_known(at_origin, pool)
                self.fitted[m] = learner
        if val_p50 is None:
            val_p50 = self._p50(jobs, feats, causal)[val] if len(val) else np.zeros(0)
        self.offsets = self._offsets(val_p50, lower, done)
        self.fallback = next((m for m in members if m in causal), None)
        self.fallback_offsets = self.offsets

    def _offsets(self, val_p50: np.ndarray, lower: np.ndarray, done: np.ndarray) -> np.ndarray:
        return residual_offsets(val_p50, lower, done, self.settings.recenter)

    @staticmethod
    def _learner(name: str) -> Learner:
        return PREDICTORS.build(name)  # type: ignore[return-value]

    # -- predicting ---------------------------------------------------------------------------------
    def _p50(self, jobs: pl.DataFrame, feats: pl.DataFrame, causal: dict[str, np.ndarray]) -> np.ndarray:
        return geo_blend(
            [causal[m][:, 1] if m in causal else self.fitted[m].predict_rows(feats)[:, 1] for m in self.chosen]
        )

    def _rows(self, jobs: pl.DataFrame, feats: pl.DataFrame, causal: dict[str, np.ndarray]) -> np.ndarray:
        if self.settings.intervals == "member":
            return self._member_rows(feats, causal)
        lp = np.log1p(self._p50(jobs, feats, causal))
        return np.expm1(np.maximum(lp[:, None] + self.offsets[None, :], 0.0))

    def _member_rows(self, feats: pl.DataFrame, causal: dict[str, np.ndarray]) -> np.ndarray:
        # the chosen members' own per-job quantiles (geometric mean over a blend; a point member takes the
        # calibrated offsets), both ends moved by the conformal amount
        qs = [causal[m] if m in causal else self.fitted[m].predict_rows(feats) for m in self.chosen]
        return move_ends(blend_quantiles(qs, self.offsets), self.widen)

    def predict(self, jobs: pl.DataFrame) -> pl.DataFrame:
        """p10/p50/p90 per job: from the chosen member after a fit, else by rolling weekly choices."""
        feats = runtime_features(jobs)
        causal = self._causal(jobs)
        self.notes = []
        if self.chosen:
            q = self._fitted_rows(jobs, feats, causal)
            q = self._adapt(jobs, q, np.ones(len(q), bool), self.origin)
        else:
            self.history, self.chosen_last = [], ()
            q = rolling(jobs, self.settings.refit_every_s, lambda o, w: self._at(jobs, feats, causal, o, w))
            # rows before the first refit are user-history's: they neither take nor teach the adaptive move
            filled = np.zeros(jobs.height, bool)
            for h in self.history:
                filled |= h.pop("_window")
            q = self._adapt(jobs, q, filled, -np.inf)
            # a replay's record of what was chosen at each refit (the run summary carries it)
            last = self.history[-1]["member"] if self.history else "user-history"
            self.choice = {
                "member": last,
                "why": f"the last of {len(self.history)} refits; user-history until {self.settings.min_train} jobs",
                "members_used": sorted({h["member"] for h in self.history}),
                "refits": [{k: h[k] for k in ("origin", "member", "why") if k in h} for h in self.history],
            }
        return pl.DataFrame({"job_id": jobs["job_id"], "p10": q[:, 0], "p50": q[:, 1], "p90": q[:, 2]})

    def _adapt(self, jobs: pl.DataFrame, q: np.ndarray, active: np.ndarray, start: float) -> np.ndarray:
        # the online conformal correction (adaptive.py): outcomes known before each submission move its ends
        rate = self.settings.adapt_rate
        if rate <= 0:
            return q
        sub = jobs["submit_time"].to_numpy().astype(float)
        dur = jobs["duration"].fill_null(np.nan).to_numpy().astype(float)
        return apply_moves(q, track_moves(q, sub, dur, active, start, rate))

    def _fitted_rows(self, jobs: pl.DataFrame, feats: pl.DataFrame, causal: dict[str, np.ndarray]) -> np.ndarray:
        # A learned member meets jobs whose users/names it never saw (or that have none): answer with the
        # best baseline instead, which is causal on these jobs themselves, and say so.
        new: dict[str, float] = {}
        for learner in self.fitted.values():
            enc = learner.encoder  # type: ignore[attr-defined]
            new |= {c: v for c, v in enc.unseen_share(feats).items() if c in TRACE_LOCAL and v > 0.5}
            for c in lacking_columns(enc.features, jobs):
                new[c] = 1.0
        if new and self.fallback in causal:
            what = ", ".join(f"{v:.0%} of {c} values" for c, v in sorted(new.items()))
            self.notes.append(
                f"these jobs are new to the chosen member {'+'.join(self.chosen)} ({what} never seen in training):"
                f" predicting with the baseline {self.fallback}"
            )
            lp = np.log1p(np.maximum(causal[self.fallback][:, 1], 0.0))
            return np.expm1(np.maximum(lp[:, None] + self.fallback_offsets[None, :], 0.0))
        return self._rows(jobs, feats, causal)

    def check_columns(self, jobs: pl.DataFrame) -> None:
        """Never refuses: jobs a learned member cannot read are predicted by the fallback baseline."""

    # -- persistence (the edges write files) ---------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The choice, the chosen learned members' own states and the offsets, as JSON-ready data."""
        if not self.chosen:
            raise GpufleetError("the auto runtime model is not fitted")
        states = {m: learner.to_state() for m, learner in self.fitted.items()}  # type: ignore[attr-defined]
        feats = sorted({f for st in states.values() for f in st["features"]})
        return {
            "kind": "runtime",
            "model": "auto",
            "feature_schema_version": 1,
            "features": feats,
            "features_missing": sorted({f for st in states.values() for f in st["features_missing"]}),
            "trained_on": max((st["trained_on"] for st in states.values()), default=0),
            "settings": self.settings.model_dump(mode="json"),
            "chosen": list(self.chosen),
            "members": states,
            "offsets": self.offsets.tolist(),
            "widen": self.widen,
            "origin": float(self.origin) if np.isfinite(self.origin) else None,
            "fallback": self.fallback,
            "fallback_offsets": self.fallback_offsets.tolist(),
            "choice": self.choice,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], load: Any) -> AutoRuntime:
        """Rebuild from `to_state`; `load(member_state)` rebuilds each learned member."""
        m = cls(AutoSettings(**state["settings"]))
        m.chosen = tuple(state["chosen"])
        m.fitted = {k: load(v) for k, v in state["members"].items()}
        m.offsets = np.array(state["offsets"], dtype=float)
        m.widen = float(state.get("widen", 0.0))
        origin = state.get("origin")
        m.origin = float(origin) if origin is not None else -np.inf
        m.fallback = state.get("fallback")
        m.fallback_offsets = np.array(state.get("fallback_offsets", state["offsets"]), dtype=float)
        m.choice = state.get("choice")
        return m

    def _at(
        self, jobs: pl.DataFrame, feats: pl.DataFrame, causal: dict[str, np.ndarray], origin: float, window: np.ndarray
    ) -> np.ndarray | None:
        sub = jobs["submit_time"].to_numpy()
        if int((sub < origin).sum()) < self.settings.min_train:
            return None
        m = AutoRuntime(self.settings)
        m._choose(jobs, feats, origin, None, causal, self.chosen_last)
        self.chosen_last = m.chosen
        self.history.append({"origin": origin, **(m.choice or {}), "_window": window})
        return m._rows(jobs.filter(pl.Series(window)), feats.filter(pl.Series(window)), _rows_of(causal, window))


def _rows_of(causal: dict[str, np.ndarray], window: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[window] for k, v in causal.items()}
