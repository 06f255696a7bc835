"""The training-side kinds on the policy recipe (schedulers, placers, runtime predictors, pool scalers): bad
settings are one line naming kind, member and field; SimConfig takes {name, settings} per kind (a plain name and
configs from before the settings moved onto the members still load); simulate() takes built policy objects and
gives the same replay as by name. (The per-member contract, `build(name)` included, is tests/contract/.)"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
import yaml

from gpufleet.core.errors import GpufleetError, RegistryError, SettingsError
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS
from gpufleet.optimizer.packing import PLACERS
from gpufleet.sim.cluster_spec import parse_spec
from gpufleet.sim.quota import QuotaDispatcher, queue_schedulers
from gpufleet.sim.quota_spec import QueueSpec, QuotaSpec
from gpufleet.sim.run import SimConfig, simulate
from gpufleet.sim.schedulers import SCHEDULERS
from gpufleet.traces import load

REPLAY = ["job_id", "start", "finish", "preemptions", "nodes"]


@pytest.mark.parametrize(
    ("registry", "name", "settings", "line"),
    [
        (SCHEDULERS, "sjf", {"blocking": "maybe"}, "scheduler 'sjf': blocking: Input should be a valid boolean"),
        (SCHEDULERS, "fifo", {"blocking": True}, "scheduler 'fifo': blocking: not a setting (valid: none)"),
        (SCHEDULERS, "tiresias", {"threshold_gpu_s": 0}, "scheduler 'tiresias': threshold_gpu_s: Input should be"),
        (PLACERS, "fgd", {"coverage": 2}, "placer 'fgd': coverage: Input should be less than or equal to 1"),
        (PLACERS, "fgd-balance", {"strand": float("nan")}, "placer 'fgd-balance': strand: Input should be a finite"),
        (PREDICTORS, "auto", {"members": ["oracle"]}, "predictor 'auto': members: auto cannot have 'oracle'"),
        (PREDICTORS, "auto", {"members": ["nope"]}, "predictor 'auto': members: unknown predictor 'nope'"),
        (PREDICTORS, "user-history", {"default": 1}, "predictor 'user-history': default: not a setting (valid: d"),
        (POOL_SCALERS, "predictive", {"target_wait_s": -1}, "pool scaler 'predictive': target_wait_s: Input should"),
    ],
)
def test_a_bad_setting_is_one_line_naming_kind_member_and_field(
    registry: Any, name: str, settings: dict[str, Any], line: str
) -> None:
    with pytest.raises(SettingsError) as e:
        registry.build(name, settings)
    assert str(e.value).startswith(line) and "\n" not in str(e.value)


def test_settings_reach_the_member() -> None:
    assert SCHEDULERS.build("qssf", {"blocking": True}).stops_at_first_failure
    assert not SCHEDULERS.build("qssf").stops_at_first_failure
    assert PLACERS.build("fgd-balance", {"pack": 0.5}).pack == 0.5  # type: ignore[attr-defined]
    assert POOL_SCALERS.build("predictive", {"period_s": 30}).period_s == 30
    assert PREDICTORS.build("user-history", {"default_s": 5.0}).predict(_one_job())["p50"].to_list() == [5.0]


def _one_job() -> pl.DataFrame:
    return pl.DataFrame(
        {"job_id": ["a"], "submit_time": [0.0], "duration": [10.0], "num_gpus": [1.0], "user": ["u"], "name": ["n"]}
    )


def test_a_config_names_each_member_with_its_whole_settings() -> None:
    cfg = SimConfig(scheduler="tiresias", placement={"name": "fgd", "settings": {"coverage": 0.9}}, pool="predictive")
    whole = {"threshold_gpu_s": 18_000.0, "helios_loop": False}
    assert cfg.scheduler.model_dump() == {"name": "tiresias", "settings": whole}
    assert cfg.placement.settings == {"coverage": 0.9}
    assert cfg.pool is not None and cfg.pool.settings == {"period_s": 60.0, "target_wait_s": 600.0, "idle_s": 600.0}
    # what config.yaml holds loads back to the same config
    assert SimConfig(**yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))) == cfg
    with pytest.raises(RegistryError, match="unknown scheduler 'sjff'.*did you mean 'sjf'"):
        SimConfig(scheduler="sjff")
    with pytest.raises(SettingsError, match="^placer 'best-fit': coverage: not a setting"):
        SimConfig(placement={"name": "best-fit", "settings": {"coverage": 1}})


def test_a_config_written_before_the_settings_moved_onto_the_members_still_loads() -> None:
    # config.yaml of a run before #22: flat blocking / tiresias_threshold_gpu_s / pool_policy / pool_settings
    old = {"scheduler": "sjf", "blocking": True, "tiresias_threshold_gpu_s": 18000.0, "pool_policy": "predictive"}
    cfg = SimConfig(**old, pool_settings={"target_wait_s": 60.0})
    assert cfg.scheduler.settings == {"blocking": True}  # the threshold is tiresias', not sjf's
    assert cfg.pool is not None and (cfg.pool.name, cfg.pool.settings["target_wait_s"]) == ("predictive", 60.0)
    t = SimConfig(scheduler="tiresias", blocking=False, tiresias_threshold_gpu_s=100.0, pool_policy=None)
    assert t.scheduler.settings == {"threshold_gpu_s": 100.0, "helios_loop": False} and t.pool is None


def test_compat_sets_blocking_and_the_loop_on_the_schedulers_that_have_them() -> None:
    assert SimConfig(compat="helios", scheduler="sjf").scheduler.settings == {"blocking": True}
    assert SimConfig(compat="helios", scheduler="fifo").scheduler.settings == {}
    given = {"name": "qssf", "settings": {"blocking": False, "helios_loop": False}}
    helios = SimConfig(compat="helios", scheduler=given, placement="best-fit")
    assert helios.scheduler.settings == {"blocking": True, "helios_loop": True}
    assert helios.placement.name == "helios-consolidate"
    srtf = SimConfig(compat="helios", scheduler={"name": "srtf", "settings": {"overheads": "helios"}})
    assert srtf.scheduler.settings == {"helios_loop": True, "overheads": "helios"}  # the restore costs are yours
    with pytest.raises(GpufleetError, match="compat 'slurm': unknown; valid: helios"):
        SimConfig(compat="slurm")


@pytest.fixture(scope="module")
def jobs() -> pl.DataFrame:
    return load("synthetic:jobs", n_jobs=600, days=1, seed=5).frame


def test_a_scheduler_object_gives_the_same_replay_as_its_name(jobs: pl.DataFrame) -> None:
    nodes = parse_spec("4x8:A100,4x8:V100")
    cfg = SimConfig(scheduler={"name": "qssf", "settings": {"blocking": True}}, predictor="user-history")
    by_name = simulate(jobs, nodes, cfg)
    by_object = simulate(jobs, nodes, cfg, scheduler=SCHEDULERS.build("qssf", {"blocking": True}))
    assert by_object.jobs.equals(by_name.jobs) and by_object.timeline.equals(by_name.timeline)
    assert by_object.summary.model_dump(exclude={"wall_s"}) == by_name.summary.model_dump(exclude={"wall_s"})
    assert by_name.summary.scheduler == "qssf"  # the summary names members by name, as before
    non_blocking = simulate(jobs, nodes, cfg, scheduler=SCHEDULERS.build("qssf"))
    assert not non_blocking.jobs.select(REPLAY).equals(by_name.jobs.select(REPLAY))  # the object is what ran


def test_placer_predictor_and_pool_objects_stand_in_for_their_names(jobs: pl.DataFrame) -> None:
    jobs = jobs.head(200)  # a pool scaler's replay is slower per job; 200 jobs still queue and move the pool
    nodes = parse_spec("4x8:A100,4x8:V100")
    cfg = SimConfig(scheduler="sjf", placement="random", predictor="gpu-class", pool="cluster-autoscaler", seed=3)
    by_name = simulate(jobs, nodes, cfg)
    by_object = simulate(
        jobs,
        nodes,
        cfg,
        placer=PLACERS.build("random", seed=3),
        predictor=PREDICTORS.build("gpu-class"),
        pool_scaler=POOL_SCALERS.build("cluster-autoscaler"),
    )
    assert by_object.jobs.equals(by_name.jobs)
    assert by_object.summary.pool == by_name.summary.pool and by_name.summary.placement == "random"
    assert by_name.summary.pool is not None and by_name.summary.pool.actions > 0  # the pool scaler did decide
    other_seed = simulate(jobs, nodes, cfg, placer=PLACERS.build("random", seed=4))
    assert not other_seed.jobs["nodes"].equals(by_name.jobs["nodes"])  # the seed is the placer's context


def test_under_quotas_the_scheduler_object_is_a_dispatcher(jobs: pl.DataFrame) -> None:
    groups = jobs.with_columns(pl.lit(None, pl.String).alias("gpu_type"))
    teams = sorted({g for g in groups["group"].to_list() if g is not None})
    quota = QuotaSpec(queues={t: QueueSpec(nominal=64 / len(teams), cohort="c", groups=[t]) for t in teams})
    cfg = SimConfig(scheduler="sjf", quota=quota)
    nodes = parse_spec("8x8:A100")
    by_name = simulate(groups, nodes, cfg)
    dispatcher = QuotaDispatcher(quota, queue_schedulers(quota, "sjf", {}))
    assert simulate(groups, nodes, cfg, scheduler=dispatcher).jobs.equals(by_name.jobs)
    with pytest.raises(ValueError, match="pass a QuotaDispatcher"):
        simulate(groups, nodes, cfg, scheduler=SCHEDULERS.build("sjf"))


def test_a_queue_scheduler_takes_the_run_settings_it_declares() -> None:
    spec = QuotaSpec(queues={"a": QueueSpec(nominal=8), "b": QueueSpec(nominal=8, scheduler="fifo")})
    a, b = queue_schedulers(spec, "sjf", {"blocking": True})
    assert a.settings.model_dump() == {"blocking": True} and b.settings.model_dump() == {}  # type: ignore[attr-defined]


def test_a_queue_names_its_scheduler_with_settings_and_a_bad_one_names_the_queue() -> None:
    own = {"name": "tiresias", "settings": {"threshold_gpu_s": 3600}}
    spec = QuotaSpec.model_validate({"queues": {"a": {"nominal": 8, "scheduler": own}, "b": {"nominal": 8}}})
    a, b = queue_schedulers(spec, "qssf", {"blocking": True})
    assert a.settings.model_dump() == {"threshold_gpu_s": 3600.0, "helios_loop": False}  # type: ignore[attr-defined]
    assert b.settings.model_dump() == {"blocking": True, "helios_loop": False}  # type: ignore[attr-defined]
    mixed = QuotaSpec.model_validate({"queues": {"a": {"nominal": 8, "scheduler": {"name": "sjf", "settings": {}}}}})
    (s,) = queue_schedulers(mixed, "qssf", {"blocking": True})  # the run's settings it declares, its own win
    assert s.settings.model_dump() == {"blocking": True}  # type: ignore[attr-defined]
    bad = QuotaSpec.model_validate(
        {"queues": {"a": {"nominal": 8, "scheduler": {"name": "sjf", "settings": {"x": 1}}}}}
    )
    with pytest.raises(GpufleetError, match=r"queues\.a\.scheduler: scheduler 'sjf': x: not a setting"):
        queue_schedulers(bad, "fifo", {})
