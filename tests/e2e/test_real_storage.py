"""Persistent storage on a real node (issue 7): `tug server` with the scheduler + `tug agent` (runc).

What a user relies on, checked through the API and on the host: data in a claim outlives its
pod; each StatefulSet replica keeps its own data through a rolling restart; reclaim Delete
removes the node directory and the PV, Retain keeps both (Released); a claim naming a missing
class stays Pending with an event; a second pod on a ReadWriteOncePod claim waits; a claim in
use is not removed under a running pod. Skipped when not root or runc/CNI are missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.realnode import Pod, RealNode, real_node, skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok"),
              pytest.mark.timeout(300)]
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def node() -> Iterator[RealNode]:
    with real_node(scheduler=True, own_netns_only=True) as n:
        wait(lambda: n.get("/apis/storage.k8s.io/v1/storageclasses/local-path"), 60, "default class local-path")
        yield n


@pytest.fixture
def ns(node: RealNode) -> str:
    return node.new_namespace()


def apply(node: RealNode, ns: str, obj: Obj) -> None:
    """Create as a user would: pods are NOT pinned to the node, the scheduler places them."""
    node.kubectl("-n", ns, "create", "-f", "-", input=orjson.dumps(obj).decode())


def claim(name: str, size: str = "64Mi", cls: str | None = None, modes: tuple[str, ...] = ("ReadWriteOnce",)) -> Obj:
    spec: Obj = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def claim_pod(name: str, claim_name: str, script: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]}}


def running(p: Pod) -> bool:
    return (p.get("status") or {}).get("phase") == "Running"


def succeeded(p: Pod) -> bool:
    return (p.get("status") or {}).get("phase") == "Succeeded"


def wait(fn: Callable[[], Any], timeout: float = 90, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def pvc(node: RealNode, ns: str, name: str) -> Obj | None:
    return node.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}")


def pv(node: RealNode, name: str) -> Obj | None:
    return node.get(f"/api/v1/persistentvolumes/{name}")


def volume_dir(node: RealNode, ns: str, claim_name: str) -> Path:
    c = pvc(node, ns, claim_name)
    assert c is not None
    v = pv(node, c["spec"]["volumeName"])
    assert v is not None
    return Path(v["spec"]["hostPath"]["path"])


def delete_pods(node: RealNode, ns: str, *names: str) -> None:
    """Delete pods and wait until the agent has removed everything of them from the host
    (finished pods vanish from the API at once; the agent cleans up after)."""
    snaps = [node.snapshot((node.pod(ns, n) or {})["metadata"]["uid"]) for n in names]
    node.kubectl("-n", ns, "delete", "pod", *names, "--wait=false")
    for n in names:
        node.wait_gone(ns, n, 90)
    for snap in snaps:
        wait(cleaned(node, snap), 90, f"pod {snap['uid']} cleaned up on the host")


def cleaned(node: RealNode, snap: dict[str, list[str]]) -> Callable[[], bool]:
    return lambda: node.pod_leftovers(snap) == []


def pod_log(node: RealNode, ns: str, name: str) -> Callable[[], str]:
    return lambda: logs(node, ns, name).strip()


def logs(node: RealNode, ns: str, name: str) -> str:
    return node.kubectl("-n", ns, "logs", name).stdout


def test_data_survives_pod_deletion(node: RealNode, ns: str) -> None:
    apply(node, ns, claim("data"))  # no class: the default local-path
    apply(node, ns, claim_pod("writer", "data", "echo persisted-$RANDOM > /data/file && cat /data/file"))
    node.wait_pod(ns, "writer", succeeded, 120, "writer done")
    written = logs(node, ns, "writer").strip()
    c = pvc(node, ns, "data")
    assert c is not None and c["spec"]["storageClassName"] == "local-path"
    assert c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node.node_name
    d = volume_dir(node, ns, "data")
    assert d.parent == (node.data_dir / "storage").resolve()
    assert (d / "file").read_text().strip() == written
    delete_pods(node, ns, "writer")
    apply(node, ns, claim_pod("reader", "data", "cat /data/file"))
    node.wait_pod(ns, "reader", succeeded, 120, "reader done")
    assert logs(node, ns, "reader").strip() == written
    delete_pods(node, ns, "reader")


def test_delete_policy_removes_directory_retain_keeps_it(node: RealNode, ns: str) -> None:
    node.kubectl("create", "-f", "-", input=orjson.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": f"keep-{ns}"},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer"}).decode())
    apply(node, ns, claim("gone"))
    apply(node, ns, claim("kept", cls=f"keep-{ns}"))
    for name in ("gone", "kept"):
        apply(node, ns, claim_pod(f"w-{name}", name, "echo x > /data/f"))
    for name in ("gone", "kept"):
        node.wait_pod(ns, f"w-{name}", succeeded, 120, "writer done")
    gone_dir, kept_dir = volume_dir(node, ns, "gone"), volume_dir(node, ns, "kept")
    gone_pv, kept_pv = (pvc(node, ns, n)["spec"]["volumeName"] for n in ("gone", "kept"))  # type: ignore[index]
    assert (gone_dir / "f").exists() and (kept_dir / "f").exists()
    delete_pods(node, ns, "w-gone", "w-kept")
    node.kubectl("-n", ns, "delete", "pvc", "gone", "kept")
    wait(lambda: pv(node, gone_pv) is None, 90, "Delete-policy PV removed")
    assert not gone_dir.exists()
    wait(lambda: (pv(node, kept_pv) or {}).get("status", {}).get("phase") == "Released", 90, "Retain PV Released")
    assert (kept_dir / "f").read_text() == "x\n"


def test_missing_class_stays_pending_with_event(node: RealNode, ns: str) -> None:
    apply(node, ns, claim("orphan", cls="no-such-class"))

    def event() -> str | None:
        return next((e["message"] for e in node.events(ns, "orphan") if e["reason"] == "ProvisioningFailed"), None)
    assert wait(event, 60, "ProvisioningFailed event") == 'storageclass.storage.k8s.io "no-such-class" not found'
    c = pvc(node, ns, "orphan")
    assert c is not None and c["status"]["phase"] == "Pending"
    out = node.kubectl("-n", ns, "describe", "pvc", "orphan").stdout
    assert "ProvisioningFailed" in out


def test_read_write_once_pod_second_pod_waits(node: RealNode, ns: str) -> None:
    apply(node, ns, claim("solo", modes=("ReadWriteOncePod",)))
    apply(node, ns, claim_pod("first", "solo", "sleep 3600"))
    node.wait_pod(ns, "first", running, 120, "first running")
    apply(node, ns, claim_pod("second", "solo", "sleep 3600"))

    def unschedulable(p: Pod) -> bool:
        return any(c["type"] == "PodScheduled" and c["status"] == "False" and "ReadWriteOncePod" in c.get("message", "")
                   for c in (p.get("status") or {}).get("conditions") or ())
    node.wait_pod(ns, "second", unschedulable, 60, "second unschedulable (RWOP)")
    delete_pods(node, ns, "first")
    node.wait_pod(ns, "second", running, 120, "second running after first left")
    delete_pods(node, ns, "second")


def test_claim_in_use_cannot_disappear(node: RealNode, ns: str) -> None:
    apply(node, ns, claim("busy"))
    apply(node, ns, claim_pod("user", "busy", "while true; do date >> /data/log; sleep 1; done"))
    node.wait_pod(ns, "user", running, 120, "user running")
    d = volume_dir(node, ns, "busy")
    node.kubectl("-n", ns, "delete", "pvc", "busy", "--wait=false")
    c = wait(lambda: (pvc(node, ns, "busy") or {}).get("metadata", {}).get("deletionTimestamp") and pvc(node, ns, "busy"),
             30, "claim terminating")
    assert "kubernetes.io/pvc-protection" in c["metadata"]["finalizers"]
    size = (d / "log").stat().st_size
    wait(lambda: (d / "log").stat().st_size > size, 30, "pod still writing to its volume")
    assert pvc(node, ns, "busy") is not None
    assert running(node.pod(ns, "user") or {})
    assert not [e for e in node.events(ns, "user") if e["reason"] == "FailedMount"]
    delete_pods(node, ns, "user")
    wait(lambda: pvc(node, ns, "busy") is None, 90, "claim removed once the pod is gone")
    wait(lambda: not d.exists(), 90, "directory removed (Delete policy)")


def test_statefulset_replicas_keep_their_data_through_rolling_restart(node: RealNode, ns: str) -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 3, "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                                 "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                                     "name": "c", "image": "busybox", "command": ["sh", "-c",
                                     "[ -f /data/id ] || echo $HOSTNAME-$RANDOM > /data/id; cat /data/id; "
                                     "sleep 3600"], "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "32Mi"}}}}]}}
    apply(node, ns, sts)
    for i in range(3):
        node.wait_pod(ns, f"db-{i}", running, 150, f"db-{i} running")
    before = {}
    for i in range(3):
        before[i] = wait(pod_log(node, ns, f"db-{i}"), 30, f"db-{i} id")
        assert before[i].startswith(f"db-{i}-")
    uids = {i: (node.pod(ns, f"db-{i}") or {})["metadata"]["uid"] for i in range(3)}
    node.kubectl("-n", ns, "rollout", "restart", "statefulset/db")

    def restarted() -> bool:
        pods = [node.pod(ns, f"db-{i}") for i in range(3)]
        return all(p is not None and p["metadata"]["uid"] != uids[i] and running(p) for i, p in enumerate(pods))
    wait(restarted, 240, "all replicas replaced and running")
    for i in range(3):
        assert wait(pod_log(node, ns, f"db-{i}"), 30, f"db-{i} id") == before[i]
        assert pvc(node, ns, f"data-db-{i}") is not None
    # remove the set first (its controller would recreate pods the node teardown deletes)
    snaps = [node.snapshot((node.pod(ns, f"db-{i}") or {})["metadata"]["uid"]) for i in range(3)]
    node.kubectl("-n", ns, "delete", "statefulset", "db", "--cascade=foreground", "--wait=false")
    for i in range(3):
        node.wait_gone(ns, f"db-{i}", 120)
    for snap in snaps:
        wait(cleaned(node, snap), 90, f"pod {snap['uid']} cleaned up on the host")
    for i in range(3):  # default retention policy (Retain): the claims stay
        assert pvc(node, ns, f"data-db-{i}") is not None


def test_generic_ephemeral_volume_lives_and_dies_with_its_pod(node: RealNode, ns: str) -> None:
    tmpl = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}}
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "scratch"},
         "spec": {"terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi > /s/f; sleep 3600"],
                                  "volumeMounts": [{"name": "s", "mountPath": "/s"}]}],
                  "volumes": [{"name": "s", "ephemeral": {"volumeClaimTemplate": tmpl}}]}}
    apply(node, ns, p)
    pod = node.wait_pod(ns, "scratch", running, 120, "scratch running")
    c = pvc(node, ns, "scratch-s")
    assert c is not None and c["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    d = volume_dir(node, ns, "scratch-s")
    wait(lambda: (d / "f").exists(), 30, "file written to the ephemeral volume")
    delete_pods(node, ns, "scratch")
    wait(lambda: pvc(node, ns, "scratch-s") is None, 90, "claim garbage-collected with its pod")
    wait(lambda: not d.exists(), 90, "directory removed")
