"""The typed run summaries: a summary.json read and written back is the same bytes, fields a run did not measure
stay absent, older files still load, and a damaged one is one line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpufleet.core.errors import GpufleetError
from gpufleet.report.rundir import dumps, read_summary, write_run
from gpufleet.sim.summary import ServingSummary, Summary, load, slo_key

TRAINING: dict[str, Any] = {
    "scheduler": "fifo",
    "placement": "best-fit",
    "predictor": "none",
    "cluster_gpus": 432.0,
    "jobs": 10,
    "skipped_unknown_duration": 0,
    "skipped_unknown_duration_jobs": [],
    "finished": 9,
    "unfinished": 0,
    "unschedulable": 1,
    "unschedulable_jobs": ["j7"],
    "avg_jct_s": 100.5,
    "p50_jct_s": 90.0,
    "p95_jct_s": 200.0,
    "p99_jct_s": 210.0,
    "avg_wait_s": 5.0,
    "p50_wait_s": 0.0,
    "p95_wait_s": 20.0,
    "p99_wait_s": 30.0,
    "avg_slowdown": 1.1,
    "preemptions": 0,
    "makespan_s": 1000.0,
    "avg_gpu_allocation": 0.5,
    "avg_stranded_gpus": 0.0,
    "gpu_hours": 120.0,
    "predictor_choice": None,
    "mate_refreshes": 0,
    "events": 40,
    "wall_s": 0.01,
}
QUOTA_PART: dict[str, Any] = {
    "groups": [
        {
            "group": "a",
            "jobs": 10,
            "finished": 9,
            "avg_wait_s": 5.0,
            "p95_wait_s": 20.0,
            "avg_jct_s": 100.5,
            "gpu_hours_used": 12.0,
            "gpus_owned": 48.0,
            "allocation": 0.25,
            "gpu_hours_held": 12.5,
            "avg_borrowed_gpus": 1.5,
            "peak_borrowed_gpus": 8.0,
            "borrowed_gpu_hours": 0.5,
        }
    ],
    "groups_by": "queue",
    "group_timeline_step_s": 60.0,
    "quota": {
        "queues": 1,
        "flavors": ["A100"],
        "jobs_without_queue": 0,
        "jobs_over_quota": 0,
        "reclaim_preemptions": 2,
    },
    "pool": {
        "policy": "cluster-autoscaler",
        "nodes_added": 3,
        "nodes_removed": 1,
        "jobs_preempted_by_scale_down": 0,
        "actions": 4,
    },
}
SERVING: dict[str, Any] = {
    "policy": "kpa",
    "profile": "llama7b-a10",
    "gpu_type": "A10",
    "requests": 100,
    "requests_scored": 90,
    "warmup_s": 300.0,
    "requests_skipped_no_size": 0,
    "duration_h": 1.0,
    "gpu_hours": 3.0,
    "replica_hours": 3.0,
    "slo": "e2e_p95<=10",
    "slo_attainment": 0.97,
    "attainable_share": 1.0,
    "requests_unattainable": 0,
    "slo_feasible": True,
    "slo_attainment_attainable": 0.97,
    "e2e_p95_s": 8.5,
    "slo_met": True,
    "ttft_p50_s": 0.2,
    "ttft_p99_s": 1.5,
    "e2e_p50_s": 2.0,
    "e2e_p99_s": 12.0,
    "wait_p99_s": 1.0,
    "scaling_actions": 1,
    "max_replicas": 3,
    "mean_utilization": 0.4,
    "events": 500,
    "actions": [{"t": 315.0, "from": 2, "to": 3, "reason": "in flight now"}],
    "requests_ref": "synthetic:requests",
}


def _file(tmp_path: Path, body: dict[str, Any]) -> Path:
    p = tmp_path / "summary.json"
    p.write_text(dumps(body) + "\n")
    return p


@pytest.mark.parametrize("body", [TRAINING, TRAINING | QUOTA_PART], ids=["plain", "quota-pool"])
def test_training_summary_round_trips_byte_for_byte(tmp_path: Path, body: dict[str, Any]) -> None:
    p = _file(tmp_path, body)
    s = load(p.read_text(), p, Summary)
    assert dumps(s.dump()) + "\n" == p.read_text()
    assert s.quota is None or (s.quota.reclaim_preemptions == 2 and s.groups and s.groups[0].peak_borrowed_gpus == 8)


def test_fields_a_run_did_not_measure_stay_absent(tmp_path: Path) -> None:
    s = Summary.model_validate(TRAINING)
    assert s.groups is None and s.pool is None and "groups" not in s.dump() and "pool" not in s.dump()
    s.model = "quota"  # what tenancy sets on a run: set, so written
    write_run(tmp_path, summary=s, config={}, tables={})
    assert read_summary(tmp_path)["model"] == "quota"


def test_serving_summary_keeps_the_slo_percentile_under_its_own_name(tmp_path: Path) -> None:
    p = _file(tmp_path, SERVING)
    s = load(p.read_text(), p, ServingSummary)
    assert slo_key(s.slo) == "e2e_p95_s" and s.slo_quantile_s == 8.5
    assert s.actions and s.actions[0].from_ == 2 and s.requests_ref == "synthetic:requests"
    assert dumps(s.dump()) + "\n" == p.read_text()
    # the default SLO's key is also a field of its own: one value, written once
    ttft = SERVING | {"slo": "ttft_p99<=2"}
    del ttft["e2e_p95_s"]
    s2 = ServingSummary.model_validate(ttft)
    assert s2.slo_quantile_s == 1.5 and json.loads(dumps(s2.dump())) == ttft


def test_older_files_load_and_unknown_keys_are_ignored() -> None:
    old = {
        k: v for k, v in TRAINING.items() if k not in ("mate_refreshes", "predictor_choice", "skipped_unknown_duration")
    }
    s = Summary.model_validate(old | {"a_key_from_elsewhere": 1})
    assert s.mate_refreshes == 0 and s.predictor_choice is None and s.skipped_unknown_duration == 0
    assert "a_key_from_elsewhere" not in s.dump() and "mate_refreshes" not in s.dump()


def test_a_damaged_summary_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    body = dict(TRAINING)
    del body["avg_jct_s"]
    p = _file(tmp_path, body | {"jobs": "many"})
    with pytest.raises(GpufleetError) as e:
        load(p.read_text(), p, Summary)
    assert str(e.value).startswith(f"{p}: ") and "\n" not in str(e.value)
    assert "jobs" in str(e.value) or "avg_jct_s" in str(e.value)
