"""What-if: replay a workload on a cluster under several policies, and size the cluster for a wait target."""

import time
from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl
import streamlit as st

from gpufleet.core.errors import validation_line
from gpufleet.core.gpus import known_gpu_models
from gpufleet.core.prices import dollars
from gpufleet.core.units import human_seconds
from gpufleet.dashboard import common, data
from gpufleet.plan.policies import registry
from gpufleet.sim.summary import Summary

common.header(
    "What-if",
    "Replay a workload (a real trace, the store's jobs or the synthetic one) on a cluster you describe, under "
    "the schedulers and placers you pick, and compare job completion time, wait, allocation and GPU-hours. "
    "Below: how many GPUs of one type keep the 95th-percentile wait under a target.",
    "pick the policy with the lowest wait at the allocation you can afford; use the capacity answer for the "
    "next purchase or quota request.",
)


@st.cache_resource
def executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1)  # one simulation at a time: the page stays responsive


@st.cache_data(show_spinner="loading the workload …", max_entries=4)
def load_jobs(ref: str, n_jobs: int, store: str | None) -> pl.DataFrame:
    from gpufleet.plan.references import load_jobs as load

    if ref == "the store's jobs" and store:
        return load(store, None)
    params = {"n_jobs": n_jobs} if ref.startswith("synthetic") else None
    return load(ref, None, params)


def run_one(jobs: pl.DataFrame, cluster: str, scheduler: str, placement: str, predictor: str = "auto") -> Summary:
    from gpufleet.plan.replays import replay_by_names

    return replay_by_names(jobs, cluster, scheduler, placement, predictor)


def _wait(row: dict) -> str:
    """A probe's p95 wait as the table shows it."""
    if row["stopped_early"]:
        return "over the target (stopped early)"
    return "never" if row["value_s"] is None or row["value_s"] == float("inf") else human_seconds(row["value_s"])


src = common.sources()
traces, no_traces = common.traces_dir()
real = ["itp:cluster04", "philly:jobs"] if traces is not None else []
refs = ["synthetic:jobs", *real] + (["the store's jobs"] if src.store else [])
if no_traces:
    st.info(no_traces)
with st.form("whatif"):
    c1, c2 = st.columns(2)
    ref = c1.selectbox("workload", refs)
    n_jobs = c1.number_input("jobs (synthetic)", 100, 100_000, 2000, step=500)
    # the default replays to the end: synthetic:nodes is the mixed fleet the synthetic jobs were made for (432
    # GPUs of five types: every job has a node of its type); 16x8:A100 left a tenth of them unschedulable
    cluster = c2.text_input(
        "cluster (NODESxGPUS:TYPE, comma-separated, or a NODES reference)",
        "synthetic:nodes",
        help="e.g. 16x8:A100,4x8:H100, or synthetic:nodes (the mixed fleet the synthetic jobs were made for)",
    )
    # the choices are the registries' members (plugins included), not a list of our own
    sched_names, placer_names = registry("scheduler").names(), registry("placer").names()
    scheds = c2.multiselect("schedulers", sched_names, [n for n in ("fifo", "sjf") if n in sched_names])
    place = c2.selectbox("placer", placer_names, placer_names.index("best-fit") if "best-fit" in placer_names else 0)
    # the oracle (the true runtimes) is SJF's best case, not what a planner gets: `auto`, the predictor that
    # picks the best causal model on the trace's own past, is the default
    pred_names = registry("predictor").names()
    pred = c1.selectbox(
        "runtime predictor (sjf, qssf, srtf, backfill)",
        pred_names,
        index=pred_names.index("auto") if "auto" in pred_names else 0,
        help="auto: the model that predicted this trace's recent past best; oracle: the true runtimes (a bound)",
    )
    go = st.form_submit_button("run the simulations")
if go:
    try:
        jobs = load_jobs(ref, int(n_jobs), str(src.store) if src.store else None)
    except Exception as e:  # a reference that is not here: say so, do not crash the page
        st.error(validation_line(e))
        st.stop()
    st.session_state["whatif_runs"] = [(s, executor().submit(run_one, jobs, cluster, s, place, pred)) for s in scheds]
    st.session_state["whatif_what"] = f"{ref} ({jobs.height:,} jobs) on {cluster}, placer {place}, predictor {pred}"
runs: list[tuple[str, Future]] = st.session_state.get("whatif_runs", [])
if runs:
    done = sum(f.done() for _, f in runs)
    st.progress(done / len(runs), text=f"{done} of {len(runs)} simulations done")
    if done < len(runs):
        time.sleep(0.3)
        st.rerun()
    errors = [(s, f.exception()) for s, f in runs if f.exception() is not None]
    for s, e in errors:
        st.error(validation_line(e, s))
    rows = [data.sim_summary_row(f.result()) for _, f in runs if f.exception() is None]
    if rows:
        st.caption(st.session_state.get("whatif_what", ""))
        table = pl.DataFrame(rows)
        st.dataframe(table.to_pandas(), width="stretch", hide_index=True)
        done_runs = [f.result() for _, f in runs if f.exception() is None]
        chart = pl.DataFrame(
            {
                "scheduler": [s.scheduler for s in done_runs],
                "avg JCT (h)": [s.avg_jct_s / 3600 for s in done_runs],
                "p95 wait (h)": [s.p95_wait_s / 3600 for s in done_runs],
            }
        ).unpivot(index="scheduler", variable_name="metric", value_name="hours")
        st.plotly_chart(
            common.express(
                "bar", chart, "scheduler", "hours", "metric", "Completion time and wait by scheduler", barmode="group"
            ),
            width="stretch",
        )

st.subheader("How many GPUs keep the wait under a target?")
st.caption(
    "The cheapest nodes to add to the fleet you have (empty: a whole fleet from scratch) of the GPU types you "
    "consider, so that a replay of the workload keeps its p95 wait under the target; each type runs at its "
    "speed from the GPU table (V100 = 1), $ from the price table (on-demand list prices unless the dashboard "
    "was given --prices). Jobs no GPU type can run count as waiting forever; the answer says how many. "
    "The same search as `gpufleet plan capacity` (docs/planning.md)."
)
with st.form("capacity"):
    k1, k2, k3 = st.columns(3)
    target_min = k3.number_input("p95 wait at most (minutes)", 1, 10_000, 60)
    cap_ref = k1.selectbox("workload ", refs, key="cap_ref")
    cap_jobs = k1.number_input("jobs (synthetic) ", 100, 50_000, 1000, step=500, key="cap_jobs")
    # the synthetic workload's own fleet minus its A100 and H100 nodes: the answer says how many of those to add
    cap_fleet = k2.text_input(
        "existing fleet (spec or NODES reference; empty: size it from scratch)",
        "16x8:V100,12x4:A10,8x4:T4",
        key="cap_fleet",
    )
    cap_add = k2.multiselect("GPU types to add", known_gpu_models(), ["A100", "H100"], key="cap_add")
    per_node = k3.selectbox("GPUs per added node", [8, 4, 2, 1])
    cap_scheds = registry("scheduler").names()
    cap_sched = k1.selectbox(
        "scheduler ",
        cap_scheds,
        cap_scheds.index("fifo-backfill") if "fifo-backfill" in cap_scheds else 0,
        key="cap_sched",
    )
    cap_preds = sorted(registry("predictor").names(), key=lambda n: n != "auto")
    cap_pred = k3.selectbox("runtime predictor ", cap_preds, key="cap_pred")
    cap_ignore = k2.checkbox("leave out jobs no GPU type can run (counted)", False, key="cap_ignore")
    ask = st.form_submit_button("search the cheapest addition")
if ask:
    from gpufleet.plan.capacity_ask import ask_capacity

    bar = st.progress(0.0, text="replaying candidate fleets …")
    try:
        jobs = load_jobs(cap_ref, int(cap_jobs), str(src.store) if src.store else None)
        res = ask_capacity(
            jobs,
            fleet=cap_fleet or None,
            add=list(cap_add),
            target=f"p95_wait<={int(target_min)}m",
            cfg={"scheduler": cap_sched, "placement": "best-fit", "predictor": cap_pred, "speeds": "spec"},
            prices=data.load_prices(src.prices),
            per_node=int(per_node),
            ignore_unschedulable=bool(cap_ignore),
            jobs_ref=cap_ref,
            workers=1,  # in this process: a spawned pool would re-run the page's script
            progress=lambda n: bar.progress(min(1.0, n / 40), text=f"{n} fleets replayed"),
        )
    except Exception as e:  # a bad fleet, type or reference: one line, not a traceback
        st.error(validation_line(e))
        st.stop()
    bar.progress(1.0, text=f"done: {res['replays']} fleets replayed")
    u = res["unschedulable"]
    if res["met"]:  # a statement, not a bare `a if c else b`: Streamlit's magic would write its value
        st.success(f"{res['answer']}, for {dollars(res['usd_per_month'])} per month")
    else:
        st.warning(res["answer"])
    m1, m2, m3 = st.columns(3)
    m1.metric("$ per month", dollars(res.get("usd_per_month")))
    m2.metric("GPUs added", f"{res.get('gpus_added') or 0:,}")
    m3.metric("jobs no GPU type can run", f"{u['jobs']:,}", help=f"{u['share']:.1%} of the jobs, {u['counted_as']}")
    nxt = res.get("next_cheaper")
    if nxt is not None:
        st.caption(f"one node fewer misses: {nxt['fleet']} gives p95 wait {_wait(nxt)}")
    speeds = ", ".join(f"{t} {f:g}" for t, f in (res["question"]["speed_factors"] or {}).items())
    st.caption(f"speeds 'spec' (V100 = 1): {speeds}; {res['question']['prices']}")
    st.dataframe(
        pl.DataFrame(
            [
                {
                    "phase": r["phase"],
                    "fleet": r["fleet"],
                    "$ per month": dollars(r["usd_per_month"]),
                    "p95 wait": _wait(r),
                    "met": r["met"],
                    "unschedulable": r["unschedulable"],
                }
                for r in res["probes"]
            ]
        ).to_pandas(),
        width="stretch",
        hide_index=True,
    )

st.subheader("Shared pool, one virtual cluster per team, or quotas with borrowing?")
st.caption(
    "The same workload on all the nodes at once (pooled), split into per-team virtual clusters that never "
    "borrow (partitioned, as Philly and Helios ran), and behind Kueue-style quotas (each team's nominal quota "
    "is its VC's GPUs, all teams in one cohort: idle quota is lent and reclaimed by preempting borrowers). "
    "Jobs need a `group` (team); teams without a VC are refused."
)
with st.form("tenancy"):
    t1, t2 = st.columns(2)
    ten_ref = t1.selectbox("workload  ", refs, key="ten_ref")
    ten_jobs = t1.number_input("jobs (synthetic)  ", 100, 50_000, 2000, step=500, key="ten_jobs")
    ten_nodes = t2.text_input("cluster  ", "16x8:A100", key="ten_nodes")
    ten_vcs = t2.text_input(
        "nodes per team (team:nodes, comma-separated)",
        "",
        key="ten_vcs",
        help="empty: split the nodes evenly over the workload's teams",
    )
    ten_go = st.form_submit_button("compare pooled, partitioned and quota")
if ten_go:
    from gpufleet.plan.references import load_cluster
    from gpufleet.plan.replays import TenancySpec, compare_tenancy, even_vcs

    try:
        jobs = load_jobs(ten_ref, int(ten_jobs), str(src.store) if src.store else None)
        nodes = load_cluster(ten_nodes, None)
        if ten_vcs.strip():
            vcs = {k.strip(): int(v) for k, v in (p.split(":") for p in ten_vcs.split(",") if p.strip())}
        else:
            vcs = even_vcs(jobs, nodes.height)
        with st.spinner("simulating three ways …"):
            res = compare_tenancy(jobs, nodes, TenancySpec(vcs=vcs))
    except Exception as e:  # a bad spec or reference: one line, not a traceback
        st.error(validation_line(e))
        st.stop()
    rows = []
    for model, r in res.items():
        for g in r.summary.groups or []:
            rows.append(
                {
                    "model": model,
                    "team": g.group,
                    "jobs": g.jobs,
                    "finished": g.finished,
                    "avg wait": human_seconds(g.avg_wait_s),
                    "p95 wait": human_seconds(g.p95_wait_s),
                    "p95_wait_h": g.p95_wait_s / 3600,
                    "GPUs owned / quota": g.gpus_owned,
                    "avg borrowed": g.avg_borrowed_gpus,
                }
            )
    table = pl.DataFrame(rows)
    st.plotly_chart(
        common.express(
            "bar",
            table,
            "team",
            "p95_wait_h",
            "model",
            "p95 wait per team (hours)",
            barmode="group",
            labels={"p95_wait_h": "p95 wait (h)"},
        ),
        width="stretch",
    )
    st.dataframe(table.drop("p95_wait_h").to_pandas(), width="stretch", hide_index=True)
