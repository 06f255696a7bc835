"""Work models on the replay: the llm slot model as before, fixed's distribution and batching with a deadline
(hand-worked), profiles naming their work model (old LLM files still load; sd-a10 is diffusion), one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.core.errors import GpufleetError
from gpufleet.optimizer.autoscaling import AUTOSCALERS, Guardrails
from gpufleet.sim.serving import WORK_MODELS, ReplicaProfile, load_profile
from gpufleet.sim.serving.fleet import ServingSim
from gpufleet.sim.serving.meter import FleetMeter
from gpufleet.sim.serving.work import Batching


def test_llm_is_the_slot_model_with_the_observed_time_as_fallback() -> None:
    f = pl.DataFrame(
        {
            "arrival_time": [2.0, 1.0, 3.0, 4.0],
            "input_tokens": [1000, 500, None, None],
            "output_tokens": [100, 50, None, None],
            "service_time": [None, None, 7.5, None],
        }
    )
    w = WORK_MODELS.build("llm", {"prefill_tps": 1000, "decode_tps": 100, "max_seqs": 4}).work(f)
    assert w.rows.tolist() == [1, 0, 2] and w.skipped == 1
    assert w.prefill.tolist() == [0.5, 1.0, 0.0]
    assert w.service.tolist() == [0.5 + 50 * 4 / 100, 1.0 + 100 * 4 / 100, 7.5]


def test_fixed_draws_the_median_and_p99_it_is_given_and_reads_a_column() -> None:
    f = pl.DataFrame({"arrival_time": np.arange(40_000.0), "svc": np.r_[np.full(39_999, 0.3), np.nan]})
    w = WORK_MODELS.build("fixed", {"median_s": 0.05, "p99_s": 0.2}, seed=3).work(f)
    assert np.median(w.service) == pytest.approx(0.05, rel=0.03)
    assert np.percentile(w.service, 99) == pytest.approx(0.2, rel=0.06)
    col = WORK_MODELS.build("fixed", {"column": "svc"}).work(f)
    assert col.skipped == 1 and (col.service == 0.3).all()
    with pytest.raises(GpufleetError, match="'nope'"):
        WORK_MODELS.build("fixed", {"column": "nope"}).work(f)


def test_batches_fill_up_or_leave_at_their_deadline() -> None:
    # one replica, one run at a time, batches of up to 3 waiting at most 2 s; each request 10 s, a batch of n takes
    # 10 x (1 + 0.5 (n - 1)). r0..r2 at 0, 0.5, 1: full at 1, runs [1, 21). r3 at 30 waits alone until its
    # deadline, 32: [32, 42). r4 at 40, r5 at 41 queue behind it; at 42 their run is due (r4 waited 2 s): [42, 57)
    prof = ReplicaProfile(name="b", gpu_type="A10", work="fixed", work_settings={"slots": 1})
    scaler = AUTOSCALERS.build("target-tracking", guardrails=Guardrails(min_replicas=1, max_replicas=1))
    meter = FleetMeter()
    arrival = np.array([0.0, 0.5, 1.0, 30.0, 40.0, 41.0])
    sim = ServingSim(
        arrival, np.zeros(6), np.full(6, 10.0), prof, scaler, cold_start_s=0, initial_replicas=1, observers=[meter],
        slots=1, batching=Batching(size=3, deadline_s=2.0, cost=0.5),
    )  # fmt: skip
    sim.run()
    assert meter.start.tolist() == [1.0, 1.0, 1.0, 32.0, 42.0, 42.0]
    assert meter.finish.tolist() == [21.0, 21.0, 21.0, 42.0, 57.0, 57.0]
    assert sim.capacity == 3


def test_profiles_name_their_work_model(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"  # a profile file as users wrote them before work models
    old.write_text("name: x\ngpu_type: A10\nprefill_tps: 100\ndecode_tps: 10\nmax_seqs: 4\n")
    p = load_profile(str(old))
    assert p.work == "llm" and p.slots == 4 and p.seconds(100, 10) == (1.0, 5.0)
    sd = load_profile("sd-a10")
    assert sd.work == "diffusion" and sd.gpu_type == "A10" and sd.slots == 1
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("name: x\ngpu_type: A10\nwork: diffusion\nmax_seqs: 4\n")
    with pytest.raises(GpufleetError, match=r"mixed\.yaml.*max_seqs"):
        load_profile(str(mixed))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\ngpu_type: A10\nwork: nope\n", "unknown work model 'nope'"),
        ("name: x\ngpu_type: A10\nwork: fixed\nwork_settings: {batch_size: 0}\n", "batch_size"),
        ("name: x\ngpu_type: A10\nwork: fixed\nwork_settings: {median_s: 2, p99_s: 1}\n", "p99_s"),
    ],
)
def test_bad_work_settings_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(text)
    res = CliRunner().invoke(app, ["autoscale-sim", "--requests", "synthetic:requests", "--profile", str(bad)])
    assert res.exit_code == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
