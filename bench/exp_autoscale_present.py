"""Experiment (issue #6, not part of `make bench`): how close to `oracle` can a policy get that knows the present
exactly but not the future?

`present-oracle` sizes the fleet for the true concurrency (what it would be with unlimited replicas) over the
last `hold_s` seconds up to now - information no real reactive policy has (it sees only what its replicas
serve and queue) - and never goes below a floor of `min_replicas`. Holding what it saw and keeping a floor
are the two causal answers to on/off traffic: keep a burst's capacity warm through the silences, or keep
some of it always. The grid spans floors 1-6, holds 0-600 s and target utilizations 0.5-1.0; the cheapest
configuration with >= 99% SLO attainment is printed against `oracle`, which sizes for the true concurrency
over the next cold start instead. SLO, profile and cold start as in bench_autoscaling.py.
Usage: GPUFLEET_DATA=../shared/traces python bench/exp_autoscale_present.py [--requests azure-llm:code]
"""

from __future__ import annotations

import argparse
import itertools
import os
from typing import Any


def register() -> None:
    """Add `present-oracle` to the autoscaler registry (for this experiment only)."""
    from pydantic import Field

    from gpufleet.optimizer.autoscaling.policies import AUTOSCALERS, Oracle, OracleSettings, replicas_for

    class PresentOracleSettings(OracleSettings):
        hold_s: float = Field(0.0, ge=0, description="seconds of the true past concurrency the fleet is sized for")

    class PresentOracle(Oracle):
        Settings = PresentOracleSettings

        def _desired(self, state: Any, forecast: Any) -> tuple[float, str]:
            assert self._future is not None
            a = int(state.now)
            window = self._future[max(0, a - int(self.settings.hold_s)) : a + 1]
            peak = float(window.max()) if len(window) else 0.0
            return replicas_for(peak, state.slots_per_replica, self.target_util), f"present: peak {peak:.1f}"

    AUTOSCALERS.register("present-oracle")(PresentOracle)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", default="azure-llm:code")
    a = ap.parse_args()
    if not os.environ.get("GPUFLEET_DATA"):
        print("exp_autoscale_present: skipped (set GPUFLEET_DATA=../shared/traces)")
        return
    from gpufleet.sim.serving import ServingConfig, simulate_serving
    from gpufleet.traces import load

    register()
    req = load(a.requests).frame
    oracle = simulate_serving(req, ServingConfig(policy="oracle", settings={"target_util": 1.0})).summary
    rows = []
    for floor, hold, util in itertools.product(range(1, 7), (0, 60, 120, 300, 600), (0.5, 0.7, 1.0)):
        cfg = ServingConfig(policy="present-oracle", min_replicas=floor, settings={"hold_s": hold, "target_util": util})
        s = simulate_serving(req, cfg).summary
        rows.append((s.gpu_hours, s.slo_attainment, floor, hold, util))
    floor_h = oracle.gpu_hours
    att = oracle.slo_attainment
    print(f"{a.requests}: oracle {floor_h:.3f} GPU-h at {att:.2%}; 1.2x oracle = {1.2 * floor_h:.3f}")
    ok = sorted(r for r in rows if r[1] >= 0.99)
    for gh, att, floor, hold, util in ok[:5]:
        print(
            f"  present-oracle floor {floor} hold {hold:3d} s util {util}: GPU-h {gh:.3f} ({gh / floor_h:.2f}x oracle)"
            f"  attainment {att:.2%}"
        )
    cheap = [r for r in rows if r[0] <= 1.2 * floor_h]
    best = max(cheap, key=lambda r: r[1]) if cheap else None
    if best is not None:
        print(
            f"  best attainment within 1.2x oracle: {best[1]:.2%} (floor {best[2]}, hold {best[3]} s, util {best[4]};"
            f" {best[0]:.3f} GPU-h)"
        )
    cheapest = f"; cheapest {ok[0][0] / floor_h:.2f}x oracle" if ok else ""
    print(f"  {len(ok)} of {len(rows)} configurations reach 99%{cheapest}")


if __name__ == "__main__":
    main()
