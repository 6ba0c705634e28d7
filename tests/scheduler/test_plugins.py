"""Table-driven filter/score tests for each plugin, on a bare cache (no API server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scheduler.util import node, pod
from tugboat.scheduler.framework import CycleState, Diagnosis, FitError, Framework
from tugboat.scheduler.handle import Handle
from tugboat.scheduler.plugins import DEFAULT_PLUGINS
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import Code


def make(nodes: list[dict[str, Any]], placed: list[dict[str, Any]] = ()) -> Framework:  # type: ignore[assignment]
    h = Handle()
    for n in nodes:
        h.cache.set_node(n)
    for p in placed:
        h.cache.add_pod(PodInfo(p))
    fw = Framework(h, [cls(h) for cls in DEFAULT_PLUGINS])
    h.framework = fw
    return fw


def filter_results(fw: Framework, p: dict[str, Any]) -> dict[str, tuple[str, tuple[str, ...]] | None]:
    """node -> None (fits) or (code name, reasons) after the full filter chain."""
    pi = PodInfo(p)
    state, diag = CycleState(), Diagnosis()
    filters = fw.run_pre_filter(state, pi, diag)
    out: dict[str, Any] = {}
    for ni in fw.cache.node_list():
        if filters is None:
            out[ni.name] = ("PRE_FILTER", (diag.pre_filter_msg,))
            continue
        if state.node_names is not None and ni.name not in state.node_names:
            out[ni.name] = ("NARROWED", ())
            continue
        failed = fw.run_filters(filters, state, pi, ni)
        out[ni.name] = None if failed is None else (failed[1].code.name, failed[1].reasons)
    return out


GPU = {"nvidia.com/gpu": "1"}
TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
CASES = [
    ("fits", [node("a", cpu="1")], pod("p", cpu="500m"), {"a": None}),
    ("insufficient cpu", [node("a", cpu="1")], pod("p", cpu="2"), {"a": ("UNSCHEDULABLE", ("Insufficient cpu",))}),
    ("insufficient cpu and memory", [node("a", cpu="1", memory="1Gi")], pod("p", cpu="2", memory="2Gi"),
     {"a": ("UNSCHEDULABLE", ("Insufficient cpu", "Insufficient memory"))}),
    ("too many pods", [node("a", pods="0")], pod("p"), {"a": ("UNSCHEDULABLE", ("Too many pods",))}),
    ("gpu only on gpu node", [node("cpu-only"), node("gpu", extra=GPU)], pod("p", extra=GPU),
     {"cpu-only": ("UNSCHEDULABLE", ("Insufficient nvidia.com/gpu",)), "gpu": None}),
    ("unschedulable node", [node("a", unschedulable=True)], pod("p"),
     {"a": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) were unschedulable",))}),
    ("unschedulable tolerated", [node("a", unschedulable=True)],
     pod("p", spec={"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]}),
     {"a": None}),
    ("untolerated taint", [node("a", taints=[TAINT])], pod("p"),
     {"a": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) had untolerated taint {dedicated: gpu}",))}),
    ("tolerated taint", [node("a", taints=[TAINT])],
     pod("p", spec={"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                     "effect": "NoSchedule"}]}), {"a": None}),
    ("nodeSelector", [node("a", labels={"disk": "ssd"}), node("b")], pod("p", spec={"nodeSelector": {"disk": "ssd"}}),
     {"a": None, "b": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) didn't match Pod's node affinity/selector",))}),
    ("required affinity In/NotIn", [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"})],
     pod("p", spec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]}}}}),
     {"a": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) didn't match Pod's node affinity/selector",)), "b": None}),
    ("matchFields metadata.name (DaemonSet)", [node("a"), node("b")],
     pod("p", spec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}}),
     {"a": ("NARROWED", ()), "b": None}),
    ("host port conflict", [node("a"), node("b")],
     pod("p", spec={"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
     {"a": ("UNSCHEDULABLE", ("node(s) didn't have free ports for the requested pod ports",)), "b": None}),
    ("nodeName", [node("a"), node("b")], pod("p", node_name="b"),
     {"a": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) didn't match the requested node name",)), "b": None}),
]
PLACED = {"host port conflict": [pod("web", node_name="a", spec={"containers": [
    {"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]})]}


@pytest.mark.parametrize("name,nodes,p,want", CASES, ids=[c[0] for c in CASES])
def test_filters(name: str, nodes: list[dict[str, Any]], p: dict[str, Any], want: dict[str, Any]) -> None:
    fw = make(nodes, PLACED.get(name, []))
    assert filter_results(fw, p) == want


def test_init_containers_max_and_overhead_count() -> None:
    spec = {"initContainers": [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "900m"}}}],
            "overhead": {"cpu": "200m"}}
    fw = make([node("a", cpu="1")])
    # max(100m app, 900m init) + 200m overhead = 1100m > 1 cpu
    assert filter_results(fw, pod("p", cpu="100m", spec=spec)) == {"a": ("UNSCHEDULABLE", ("Insufficient cpu",))}


def test_assumed_pods_count_immediately() -> None:
    fw = make([node("a", cpu="1")])
    fw.cache.assume(PodInfo(pod("first", cpu="800m")), "a")
    assert filter_results(fw, pod("p", cpu="500m")) == {"a": ("UNSCHEDULABLE", ("Insufficient cpu",))}
    fw.cache.forget("default/first")
    assert filter_results(fw, pod("p", cpu="500m")) == {"a": None}


def test_pod_anti_affinity_and_existing_anti_affinity() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    fw = make([node("a"), node("b")], [pod("db-0", labels={"app": "db"}, node_name="a", spec={"affinity": anti})])
    assert filter_results(fw, pod("db-1", labels={"app": "db"}, spec={"affinity": anti})) == {
        "a": ("UNSCHEDULABLE", ("node(s) didn't match pod anti-affinity rules",)), "b": None}
    # a pod without affinity but matching the placed pod's anti-affinity is kept off its node too
    assert filter_results(fw, pod("other", labels={"app": "db"})) == {
        "a": ("UNSCHEDULABLE", ("node(s) didn't satisfy existing pods anti-affinity rules",)), "b": None}


def test_pod_affinity_by_zone_and_first_pod_rule() -> None:
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}]}}
    nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z1"}), node("c", labels={"zone": "z2"})]
    fw = make(nodes, [pod("cache-0", labels={"app": "cache"}, node_name="a")])
    assert filter_results(fw, pod("web", spec={"affinity": aff})) == {
        "a": None, "b": None, "c": ("UNSCHEDULABLE_AND_UNRESOLVABLE", ("node(s) didn't match pod affinity rules",))}
    # no matching pod anywhere, but the pod matches its own term: allowed anywhere (first of a group)
    fw2 = make(nodes)
    assert set(filter_results(fw2, pod("cache-1", labels={"app": "cache"}, spec={"affinity": aff})).values()) == {None}


def test_topology_spread_hard() -> None:
    tsc = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                          "labelSelector": {"matchLabels": {"app": "w"}}}]}
    nodes = [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}), node("nolabel")]
    fw = make(nodes, [pod("w-0", labels={"app": "w"}, node_name="a")])
    assert filter_results(fw, pod("w-1", labels={"app": "w"}, spec=tsc)) == {
        "a": ("UNSCHEDULABLE", ("node(s) didn't match pod topology spread constraints",)), "b": None,
        "nolabel": ("UNSCHEDULABLE_AND_UNRESOLVABLE",
                    ("node(s) didn't match pod topology spread constraints (missing required label)",))}


def best_node(fw: Framework, p: dict[str, Any]) -> str:
    node_info, _ = fw.schedule(PodInfo(p))
    return node_info.name


@pytest.mark.parametrize("name,nodes,placed,p,want", [
    ("least allocated", [node("busy", cpu="4"), node("idle", cpu="4")],
     [pod("x", cpu="3", node_name="busy")], pod("p", cpu="500m"), "idle"),
    ("prefer-no-schedule taint", [node("tainted", taints=[{"key": "k", "effect": "PreferNoSchedule"}]), node("clean")],
     [], pod("p"), "clean"),
    ("preferred node affinity", [node("a"), node("b", labels={"tier": "fast"})], [],
     pod("p", spec={"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 50, "preference": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fast"]}]}}]}}}),
     "b"),
    ("image locality", [node("a"), node("b", images=[{"names": ["big:1"], "sizeBytes": 900 * 1024 * 1024}])], [],
     pod("p", image="big:1"), "b"),
    ("preferred anti-affinity", [node("a"), node("b")], [pod("x", labels={"app": "x"}, node_name="a")],
     pod("p", spec={"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "x"}},
                                             "topologyKey": "kubernetes.io/hostname"}}]}}}), "b"),
    ("soft topology spread", [node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"})],
     [pod("w0", labels={"app": "w"}, node_name="a", cpu=None)],
     pod("w1", labels={"app": "w"}, cpu=None, spec={"topologySpreadConstraints": [
         {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
          "labelSelector": {"matchLabels": {"app": "w"}}}]}), "b"),
])
def test_scores_pick_expected_node(name: str, nodes: list[dict[str, Any]], placed: list[dict[str, Any]],
                                   p: dict[str, Any], want: str) -> None:
    fw = make(nodes, placed)
    assert {best_node(fw, p) for _ in range(5)} == {want}


def test_fit_error_message_counts_and_sorts_reasons() -> None:
    nodes = [node("a", cpu="1"), node("b", cpu="1"), node("c", cpu="1", taints=[TAINT])]
    fw = make(nodes)
    with pytest.raises(FitError) as ei:
        fw.schedule(PodInfo(pod("p", cpu="2")))
    assert str(ei.value) == "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
    assert ei.value.diagnosis.node_statuses["a"].code == Code.UNSCHEDULABLE


def test_preemption_picks_node_with_lowest_priority_victims() -> None:
    nodes = [node("a", cpu="1"), node("b", cpu="1")]
    placed = [pod("mid", cpu="1", node_name="a", priority=100), pod("low", cpu="1", node_name="b", priority=10)]
    fw = make(nodes, placed)
    pi = PodInfo(pod("hi", cpu="1", priority=1000))
    state = CycleState()
    with pytest.raises(FitError) as ei:
        fw.schedule(pi, state)
    plugin = fw.by_name["DefaultPreemption"]
    cands = [plugin.select_victims(state, pi, fw.cache.nodes[n], []) for n in ("a", "b")]  # type: ignore[attr-defined]
    best = plugin.pick(cands)  # type: ignore[attr-defined]
    assert best.node == "b" and [v.name for v in best.victims] == ["low"]
    assert ei.value.diagnosis.num_all_nodes == 2


def test_preemption_not_helpful_message() -> None:
    fw = make([node("a", cpu="1")], [pod("x", cpu="1", node_name="a", priority=0)])
    pi = PodInfo(pod("p", cpu="2", priority=0))
    state = CycleState()
    with pytest.raises(FitError) as ei:
        fw.schedule(pi, state)
    res = fw.run_post_filter(state, pi, ei.value.diagnosis)
    assert res is not None
    ei.value.diagnosis.post_filter_msg = res.status.message
    assert str(ei.value) == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
                             "1 No preemption victims found for incoming pod.")


def test_spread_counts_follow_pods_through_relabel_termination_and_removal() -> None:
    from tugboat.api.selectors import label_selector_from_dict
    from tugboat.scheduler.plugins.spread import count_matching
    fw = make([node("a")], [pod("w-0", labels={"app": "w"}, node_name="a"),
                            pod("w-1", labels={"app": "w"}, node_name="a"),
                            pod("o-0", labels={"app": "w"}, ns="other", node_name="a"),
                            pod("x-0", labels={"app": "x"}, node_name="a")])
    cache = fw.handle.cache
    sel = label_selector_from_dict({"matchLabels": {"app": "w"}})
    ni = cache.node_list()[0]
    memo: dict[Any, bool] = {}
    assert count_matching(ni, sel, "default", memo) == 2 and count_matching(ni, sel, "other") == 1
    relabelled = pod("w-1", labels={"app": "x"}, node_name="a")
    cache.add_pod(PodInfo(relabelled))  # an update of a placed pod
    assert count_matching(ni, sel, "default") == 1
    assert count_matching(ni, label_selector_from_dict({"matchLabels": {"app": "x"}}), "default") == 2
    terminating = pod("w-0", labels={"app": "w"}, node_name="a")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cache.add_pod(PodInfo(terminating))
    assert count_matching(ni, sel, "default") == 0  # terminating pods do not count
    cache.remove_pod("default/w-0")
    cache.remove_pod("default/w-1")
    cache.remove_pod("default/x-0")
    assert count_matching(ni, sel, "default") == 0 and ni.label_counts == {("other", (("app", "w"),)): 1}
