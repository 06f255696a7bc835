"""Contract for every member of PLACERS (plugins included): the policy recipe, feasible choices only (a node or
none), all-or-nothing gangs, deterministic, no mutation of the cluster view."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.contract.recipe import check_recipe, members

from gpufleet.optimizer.packing import PLACERS, ClusterView, Placer, Request, apply, feasible, place

NAMES = members("placer")


def view(gpus: list[int], types: list[str], used: list[float]) -> ClusterView:
    v = ClusterView(
        node_ids=[f"n{i}" for i in range(len(gpus))],
        gpu_type=types,
        gpu_total=np.array(gpus, dtype=np.int64),
        cpu_total=np.full(len(gpus), 32.0),
        mem_total=np.full(len(gpus), 256e9),
    )
    for i, u in enumerate(used):  # pre-load some nodes with fractional and whole allocations
        whole = min(int(u), gpus[i])
        slots = [(s, 1.0) for s in range(whole)]
        if whole < gpus[i] and u - int(u) > 0:
            slots.append((whole, round(u - int(u), 3)))
        v.allocate(i, slots, cpus=u, mem=u * 1e9)
    return v


clusters = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from([1, 2, 4, 8]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["A", "B"]), min_size=n, max_size=n),
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7, 8.0]), min_size=n, max_size=n),
    )
)
requests = st.tuples(
    st.sampled_from([0.0, 0.3, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0]),
    st.sampled_from([0.0, 1.0, 30.0]),
    st.sampled_from([None, "A", "B"]),
)


@pytest.mark.parametrize("name", NAMES)
def test_recipe(name: str) -> None:
    check_recipe("placer", name, Placer, seed=0)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=80, deadline=None)
@given(clusters, requests)
def test_placer_contract(
    name: str, cluster: tuple[list[int], list[str], list[float]], r: tuple[float, float, str | None]
) -> None:
    v = view(*cluster)
    req = Request(r[0], r[1], 0.0, v.type_mask(r[2]))
    before = v.slots.copy(), v.cpu_free.copy()
    p1 = place(v, req, PLACERS.build(name, seed=0))
    p2 = place(v, req, PLACERS.build(name, seed=0))
    assert p1 == p2, "not deterministic"
    assert np.array_equal(v.slots, before[0]) and np.array_equal(v.cpu_free, before[1]), "place() changed the view"
    single_ok = feasible(v, req).any()
    if single_ok:
        assert p1 is not None and len(p1.parts) == 1, "a request that fits on one node must go on one node"
    if p1 is None:
        return
    nodes = p1.nodes
    assert len(set(nodes)) == len(nodes), "a gang uses distinct nodes"
    got = sum(a for _, slots, *_ in p1.parts for _, a in slots)
    assert got == pytest.approx(req.whole or req.fraction), "placement gives exactly what was asked"
    if req.type_mask is not None:
        assert all(req.type_mask[n] for n in nodes)
    apply(v, p1)  # must not over-allocate anything (allocate asserts per GPU)
    assert (v.slots[v.slots >= -1e-12] >= -1e-9).all() and (v.cpu_free >= -1e-9).all()


def test_registry_has_the_required_placers() -> None:
    assert {"first-fit", "best-fit", "worst-fit", "consolidate", "dot-product", "gpu-packing", "random"} <= set(
        PLACERS.names()
    )


def _view2() -> ClusterView:
    # node 0: two GPUs, one of them half used (free 0.5 and 1.0); node 1: one idle GPU
    v = ClusterView(
        node_ids=["n0", "n1"],
        gpu_type=["A", "A"],
        gpu_total=np.array([2, 1]),
        cpu_total=np.array([32.0, 32.0]),
        mem_total=np.array([1e11, 1e11]),
    )
    v.allocate(0, [(0, 0.5)], cpus=4, mem=1e10)
    return v


def test_gpu_packing_prefers_a_shared_gpu_where_best_fit_opens_a_new_one() -> None:
    v = _view2()
    req = Request(0.4)
    # best-fit: node 1 leaves 0.6 free, node 0 would leave 1.1 -> node 1 (a fresh GPU gets split)
    assert place(v, req, PLACERS.build("best-fit")).nodes == [1]
    # gpu-packing: node 0 has a partly used GPU with 0.5 >= 0.4 free -> tier 0, and it lands on that GPU
    p = place(v, req, PLACERS.build("gpu-packing"))
    assert p.nodes == [0] and p.parts[0][1] == ((0, 0.4),)


def test_dot_product_aligns_with_the_freest_dimension() -> None:
    v = _view2()
    # 1 GPU + 8 CPUs: node 0 free (1.5/2 GPU, 28/32 CPU) -> 0.5*0.75 + 0.25*0.875 = 0.594;
    # node 1 free (1/1, 32/32) -> 1*1 + 0.25*1 = 1.25 -> node 1
    assert place(v, Request(1.0, cpus=8), PLACERS.build("dot-product")).nodes == [1]


def test_random_placer_is_seeded() -> None:
    v = view([8] * 20, ["A"] * 20, [0.0] * 20)

    def picks(seed: int) -> list[int]:
        placer = PLACERS.build("random", seed=seed)
        return [place(v, Request(1.0), placer).nodes[0] for _ in range(10)]  # type: ignore[union-attr]

    assert picks(1) == picks(1) and picks(1) != picks(2)
