"""Issue 3 end to end: a real `tug server` (API server + supervised controllers and scheduler),
simulated nodes in `tug agent --simulate` processes, and the real kubectl.

One cluster for the module: three nodes (`sim-a-0`, `sim-a-1`, and `sim-gpu-0` with one
`nvidia.com/gpu`), each 4 cpu. Tests that take nodes away start their own agent process and
stop it by pid, so the three base nodes stay for every test. The server runs with the
fast-failover flags (NotReady after 5 s, eviction 5 s later) and the agents renew their Lease
every second.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.e2e.simcluster import SimCluster, start_cluster, wait_for

pytestmark = pytest.mark.e2e
BASE_NODES = ["sim-a-0", "sim-a-1", "sim-gpu-0"]
CAP = "cpu=4,memory=16Gi,pods=110"


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimCluster]:
    c = start_cluster()
    try:
        c.start_agent("sim-a-", 2, capacity=CAP, labels="group=a")
        c.start_agent("sim-gpu-", 1, capacity=CAP + ",nvidia.com/gpu=1", labels="group=gpu")
        yield c
    finally:
        c.stop()


@pytest.fixture
def ns(cluster: SimCluster) -> Iterator[str]:
    name = "sim-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _apply(c: SimCluster, ns: str, *objs: dict[str, Any]) -> None:
    c.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def _running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict[str, Any] | None) -> bool:
    conds = (pod or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def _deployment(name: str, replicas: int, *, annotations: dict[str, str] | None = None,
                prefer_node: str = "", cpu: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    if cpu:
        spec["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    if prefer_node:
        spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "preference": {"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [prefer_node]}]}}]}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                                  "spec": spec}}}


# ---- Deployments ----
def test_deployment_spreads_rolls_out_and_back(cluster: SimCluster, ns: str) -> None:
    k = cluster.kubectl
    k("create", "deployment", "web", "--image=nginx:1.25", "--replicas=6", "-n", ns)
    k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    pods = _running(cluster.pods(ns, "app=web"))
    assert len(pods) == 6
    assert {p["spec"]["nodeName"] for p in pods} == set(BASE_NODES)  # spread over the three nodes

    def images() -> set[str]:
        return {p["spec"]["containers"][0]["image"] for p in cluster.pods(ns, "app=web")}

    k("set", "image", "deployment/web", "nginx=nginx:1.26", "-n", ns)
    k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    wait_for("old pods gone", lambda: images() == {"nginx:1.26"})
    hist = k("rollout", "history", "deployment/web", "-n", ns).stdout
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["1", "2"]

    k("rollout", "undo", "deployment/web", "-n", ns)
    k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    wait_for("rolled back pods", lambda: images() == {"nginx:1.25"})
    hist = k("rollout", "history", "deployment/web", "-n", ns).stdout
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["2", "3"]

    # paused: a template change makes no new ReplicaSet and no pods until resumed
    k("rollout", "pause", "deployment/web", "-n", ns)
    k("set", "image", "deployment/web", "nginx=nginx:1.27", "-n", ns)
    dep = wait_for("the paused deployment observed", lambda: (
        d := cluster.get_json("deployment", "web", "-n", ns))["status"].get("observedGeneration") ==
        d["metadata"]["generation"] and d)
    assert dep["spec"]["paused"] is True
    rs_images = [rs["spec"]["template"]["spec"]["containers"][0]["image"]
                 for rs in cluster.get_json("rs", "-n", ns)["items"]]
    assert "nginx:1.27" not in rs_images and images() == {"nginx:1.25"}
    k("rollout", "resume", "deployment/web", "-n", ns)
    k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    wait_for("resumed rollout", lambda: images() == {"nginx:1.27"})

    before = {p["metadata"]["uid"] for p in cluster.pods(ns, "app=web")}
    k("rollout", "restart", "deployment/web", "-n", ns)
    k("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")

    def restarted() -> list[dict[str, Any]] | None:
        ps = _running(cluster.pods(ns, "app=web"))
        return ps if len(ps) == 6 and not ({p["metadata"]["uid"] for p in ps} & before) else None

    after = wait_for("restarted pods", restarted)
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"].get("annotations", {}) for p in after)


# ---- scheduling ----
def test_pod_that_fits_nowhere_stays_pending_with_event(cluster: SimCluster, ns: str) -> None:
    _apply(cluster, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
                         "spec": {"containers": [{"name": "c", "image": "nginx",
                                                  "resources": {"requests": {"cpu": "100"}}}]}})
    want = "0/3 nodes are available: 3 Insufficient cpu."
    wait_for("FailedScheduling event", lambda: any(
        e["reason"] == "FailedScheduling" and want in e["message"]
        for e in cluster.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=huge")["items"]))
    pod = cluster.get_json("pod", "huge", "-n", ns)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    described = cluster.kubectl("describe", "pod", "huge", "-n", ns).stdout
    assert "FailedScheduling" in described and want in described


def test_gpu_pod_lands_only_on_the_gpu_node(cluster: SimCluster, ns: str) -> None:
    def gpu_pod(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "cuda",
                                         "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}

    _apply(cluster, ns, gpu_pod("gpu-1"))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/gpu-1", "-n", ns, "--timeout=30s")
    assert cluster.get_json("pod", "gpu-1", "-n", ns)["spec"]["nodeName"] == "sim-gpu-0"
    _apply(cluster, ns, gpu_pod("gpu-2"))  # the only GPU is taken
    wait_for("gpu-2 unschedulable", lambda: any(
        "Insufficient nvidia.com/gpu" in e["message"]
        for e in cluster.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=gpu-2")["items"]))
    assert not cluster.get_json("pod", "gpu-2", "-n", ns)["spec"].get("nodeName")


def test_high_priority_pod_preempts_a_lower_one(cluster: SimCluster, ns: str) -> None:
    low, high = f"{ns}-low", f"{ns}-high"
    for name, value in ((low, 100), (high, 100000)):
        cluster.kubectl("create", "priorityclass", name, f"--value={value}")
    try:
        def pod(name: str, pc: str) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"priorityClassName": pc, "nodeSelector": {"kubernetes.io/hostname": "sim-a-1"},
                             "terminationGracePeriodSeconds": 0,
                             "containers": [{"name": "c", "image": "nginx",
                                             "resources": {"requests": {"cpu": "3"}}}]}}

        _apply(cluster, ns, pod("victim", low))
        cluster.kubectl("wait", "--for=condition=Ready", "pod/victim", "-n", ns, "--timeout=30s")
        victim_uid = cluster.get_json("pod", "victim", "-n", ns)["metadata"]["uid"]
        _apply(cluster, ns, pod("vip", high))
        cluster.kubectl("wait", "--for=condition=Ready", "pod/vip", "-n", ns, "--timeout=45s")
        vip = cluster.get_json("pod", "vip", "-n", ns)
        assert vip["spec"]["nodeName"] == "sim-a-1" and vip["spec"]["priority"] == 100000
        left = [p for p in cluster.pods(ns) if p["metadata"]["uid"] == victim_uid]
        assert not left or left[0]["metadata"].get("deletionTimestamp")
        events = cluster.get_json("events", "-n", ns, "--field-selector", "involvedObject.name=victim")["items"]
        assert any(e["reason"] == "Preempted" for e in events), [e["reason"] for e in events]
    finally:
        cluster.kubectl("delete", "priorityclass", low, high, check=False)


# ---- StatefulSet / DaemonSet / Job / CronJob ----
def test_statefulset_scales_up_in_order_and_down_in_reverse(cluster: SimCluster, ns: str) -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"serviceName": "web", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"},
                                              # each pod takes ~1 s to get Ready and to stop
                                              "annotations": {"sim.tugboat.dev/ready-after": "1s",
                                                              "sim.tugboat.dev/ignore-sigterm": "true"}},
                                 "spec": {"terminationGracePeriodSeconds": 1,
                                          "containers": [{"name": "c", "image": "nginx"}]}}}}
    snapshots: list[dict[str, dict[str, Any]]] = []

    def snap() -> dict[str, dict[str, Any]]:
        s = {p["metadata"]["name"]: p for p in cluster.pods(ns, "app=web")}
        snapshots.append(s)
        return s

    _apply(cluster, ns, sts)
    wait_for("3 Ready", lambda: (s := snap()) and len(s) == 3 and all(_ready(p) for p in s.values()),
             timeout=45, interval=0.1)
    appeared: list[str] = []
    for s in snapshots:
        for i in (1, 2):
            if f"web-{i}" in s:  # web-i exists only once web-(i-1) is Running and Ready
                assert _ready(s[f"web-{i - 1}"]), f"web-{i} created before web-{i - 1} was Ready"
        appeared += [n for n in sorted(s) if n not in appeared]
    assert appeared == ["web-0", "web-1", "web-2"]

    snapshots.clear()
    cluster.kubectl("scale", "statefulset/web", "--replicas=0", "-n", ns)
    wait_for("all gone", lambda: not snap(), timeout=45, interval=0.1)
    gone: list[str] = []
    for s in snapshots:
        for i in (0, 1):
            p = s.get(f"web-{i}")
            if p is None or p["metadata"].get("deletionTimestamp"):  # web-i goes only once web-(i+1) is gone
                assert f"web-{i + 1}" not in s, f"web-{i} terminated while web-{i + 1} still existed"
        gone += [n for n in ("web-2", "web-1", "web-0") if n not in s and n not in gone]
    assert gone == ["web-2", "web-1", "web-0"]


def test_daemonset_follows_nodes(cluster: SimCluster, ns: str) -> None:
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "c", "image": "fluentd"}]}}}}

    def placed() -> list[str]:
        return sorted(p["spec"].get("nodeName", "") for p in _running(cluster.pods(ns, "app=agent")))

    _apply(cluster, ns, ds)
    wait_for("one pod per node", lambda: placed() == sorted(BASE_NODES))
    cluster.start_agent("sim-ds-", 1, capacity=CAP)
    try:
        wait_for("a pod on the new node", lambda: placed() == sorted([*BASE_NODES, "sim-ds-0"]))
        cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=30s")
    finally:
        cluster.stop_agent("sim-ds-")
        cluster.kubectl("delete", "node", "sim-ds-0", check=False)
    wait_for("status follows the removed node", lambda: (
        st := cluster.get_json("daemonset", "agent", "-n", ns)["status"]).get("desiredNumberScheduled") == 3 and
        st.get("currentNumberScheduled") == 3 and st.get("numberReady") == 3)
    # the pod bound to the deleted node is removed by pod GC after its 40 s quarantine (upstream's)
    wait_for("orphaned daemon pod collected", lambda: sorted(
        p["spec"].get("nodeName", "") for p in cluster.pods(ns, "app=agent")) == sorted(BASE_NODES), timeout=70)


def test_job_retries_then_completes(cluster: SimCluster, ns: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "flaky"},
           "spec": {"backoffLimit": 4, "template": {
               # the first two pods exit 1, the third exits 0 (all on one agent process: group a)
               "metadata": {"annotations": {"sim.tugboat.dev/fail-first": "2",
                                            "sim.tugboat.dev/exit-after": "200ms"}},
               "spec": {"restartPolicy": "Never", "nodeSelector": {"group": "a"},
                        "containers": [{"name": "c", "image": "busybox"}]}}}}
    _apply(cluster, ns, job)
    # upstream's pod-failure back-off is 10 s then 20 s, so this takes about 30 s
    cluster.kubectl("wait", "--for=condition=complete", "job/flaky", "-n", ns, "--timeout=90s", timeout=100)
    st = cluster.get_json("job", "flaky", "-n", ns)["status"]
    assert (st.get("failed"), st.get("succeeded")) == (2, 1)
    phases = sorted(p["status"]["phase"] for p in cluster.pods(ns, "job-name=flaky"))
    assert phases == ["Failed", "Failed", "Succeeded"]


def test_cronjob_create_and_job_from_cronjob(cluster: SimCluster, ns: str) -> None:
    k = cluster.kubectl
    k("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "-n", ns)
    k("patch", "cronjob", "tick", "-n", ns, "--type=merge", "-p", json.dumps(
        {"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"annotations": {
            "sim.tugboat.dev/exit-after": "100ms"}}}}}}}))
    k("create", "job", "tick-manual", "--from=cronjob/tick", "-n", ns)
    k("wait", "--for=condition=complete", "job/tick-manual", "-n", ns, "--timeout=30s")
    job = cluster.get_json("job", "tick-manual", "-n", ns)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert "tick" in k("get", "cronjob", "-n", ns).stdout


@pytest.mark.skipif(not os.environ.get("TUG_E2E_SLOW"), reason="waits for a minute boundary (set TUG_E2E_SLOW=1); "
                    "firing on schedule is unit-tested with a FakeClock in tests/controllers")
def test_cronjob_fires_on_schedule(cluster: SimCluster, ns: str) -> None:
    cluster.kubectl("create", "cronjob", "every-minute", "--image=busybox", "--schedule=* * * * *", "-n", ns)
    wait_for("a Job from the schedule", lambda: cluster.get_json("jobs", "-n", ns)["items"], timeout=75, interval=1)
    cj = cluster.get_json("cronjob", "every-minute", "-n", ns)
    assert cj["status"].get("lastScheduleTime") and cj["status"].get("active")


# ---- nodes failing, namespaces, restarts, drain ----
def test_node_that_stops_heartbeating_goes_notready_and_its_pods_move(cluster: SimCluster, ns: str) -> None:
    cluster.start_agent("sim-f-", 1, capacity=CAP)
    try:
        _apply(cluster, ns, _deployment("fo", 3, prefer_node="sim-f-0"))
        cluster.kubectl("rollout", "status", "deployment/fo", "-n", ns, "--timeout=30s")
        doomed = {p["metadata"]["uid"] for p in cluster.pods(ns, "app=fo") if p["spec"]["nodeName"] == "sim-f-0"}
        assert doomed, "the preferred node got no pod"
        t0 = time.monotonic()
        cluster.stop_agent("sim-f-")
        wait_for("sim-f-0 NotReady", lambda: cluster.node_ready("sim-f-0") == "Unknown", timeout=20)
        assert "NotReady" in cluster.kubectl("get", "nodes", "sim-f-0").stdout

        def replaced() -> bool:
            ps = _running(cluster.pods(ns, "app=fo"))
            return len(ps) == 3 and all(p["spec"]["nodeName"] in BASE_NODES and _ready(p) for p in ps)

        wait_for("pods replaced on the other nodes", replaced, timeout=40)
        took = time.monotonic() - t0
        assert took < 35, f"failover took {took:.0f}s"
        node = cluster.get_json("node", "sim-f-0")
        assert {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"} in [
            {k: t[k] for k in ("key", "effect")} for t in node["spec"].get("taints") or []]
    finally:
        cluster.stop_agent("sim-f-")
        cluster.kubectl("delete", "node", "sim-f-0", "--wait=false", check=False)


def test_namespace_deletion_empties_and_removes_it(cluster: SimCluster) -> None:
    name = "sim-del-" + uuid.uuid4().hex[:6]
    k = cluster.kubectl
    k("create", "namespace", name)
    _apply(cluster, name, _deployment("d", 3))
    k("create", "configmap", "cm", "--from-literal=a=b", "-n", name)
    k("create", "service", "clusterip", "svc", "--tcp=80:80", "-n", name)
    k("rollout", "status", "deployment/d", "-n", name, "--timeout=30s")
    k("delete", "namespace", name, "--timeout=60s", timeout=70)
    p = k("get", "namespace", name, check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr
    assert not cluster.get_json("pods", "-A", "--field-selector", f"metadata.namespace={name}")["items"]


def test_components_restart_creates_nothing_extra(cluster: SimCluster, ns: str) -> None:
    _apply(cluster, ns, _deployment("steady", 4))
    cluster.kubectl("rollout", "status", "deployment/steady", "-n", ns, "--timeout=30s")

    def uids(kind: str) -> set[str]:
        return {o["metadata"]["uid"] for o in cluster.get_json(kind, "-n", ns)["items"]}

    before = (uids("pods"), uids("replicasets"))
    old = cluster.components_pid()
    os.kill(old, signal.SIGKILL)  # a crash: no lease release, the successor waits for it to expire
    wait_for("components restarted", lambda: _other_pid(cluster, old), timeout=20)
    holder0 = cluster.get_json("lease", "kube-controller-manager", "-n", "kube-system")["spec"]["holderIdentity"]
    wait_for("controller manager leading again", lambda: cluster.get_json(
        "lease", "kube-controller-manager", "-n", "kube-system")["spec"]["holderIdentity"] != holder0, timeout=40)
    # the new controllers are working (a fresh Deployment rolls out) and left the old one alone
    _apply(cluster, ns, _deployment("probe", 1))
    cluster.kubectl("rollout", "status", "deployment/probe", "-n", ns, "--timeout=45s")
    pods, rss = uids("pods"), uids("replicasets")
    probe = {p["metadata"]["uid"] for p in cluster.pods(ns, "app=probe")}
    probe_rs = {r["metadata"]["uid"] for r in cluster.get_json("rs", "-n", ns, "-l", "app=probe")["items"]}
    assert (pods - probe, rss - probe_rs) == before


def _other_pid(c: SimCluster, old: int) -> bool:
    try:
        return c.components_pid() != old
    except AssertionError:
        return False


def test_drain_respects_a_pod_disruption_budget(cluster: SimCluster, ns: str) -> None:
    cluster.start_agent("sim-dr-", 1, capacity=CAP)
    try:
        _apply(cluster, ns, _deployment("guarded", 2, prefer_node="sim-dr-0"),
               {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}})
        cluster.kubectl("rollout", "status", "deployment/guarded", "-n", ns, "--timeout=30s")
        on_node = [p for p in cluster.pods(ns, "app=guarded") if p["spec"]["nodeName"] == "sim-dr-0"]
        assert len(on_node) == 2, "both replicas should prefer sim-dr-0"
        wait_for("PDB allows one disruption", lambda: cluster.get_json(
            "pdb", "guarded", "-n", ns)["status"].get("disruptionsAllowed") == 1)
        p = cluster.kubectl("drain", "sim-dr-0", "--ignore-daemonsets", "--delete-emptydir-data",
                            "--timeout=60s", timeout=70)
        out = p.stdout + p.stderr
        # the second eviction is refused (429) until the first pod's replacement is Ready elsewhere
        assert "Cannot evict pod as it would violate the pod's disruption budget" in out, out
        assert "drained" in out
        ps = _running(cluster.pods(ns, "app=guarded"))
        assert len(ps) == 2 and all(p["spec"]["nodeName"] != "sim-dr-0" for p in ps)
        assert cluster.get_json("node", "sim-dr-0")["spec"].get("unschedulable") is True
    finally:
        cluster.stop_agent("sim-dr-")
        cluster.kubectl("delete", "node", "sim-dr-0", "--wait=false", check=False)
