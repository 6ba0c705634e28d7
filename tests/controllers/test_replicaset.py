"""ReplicaSet / ReplicationController controller against a real in-process API server."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.controllers.test_podcontrol import Env, cluster, wait_for
from tugboat.client import ApiStatusError
from tugboat.controllers.replicaset_status import pods_to_delete
from tugboat.util.clock import rfc3339

Obj = dict[str, Any]
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def rs_body(name: str = "web", replicas: int = 3, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE, **spec}}


async def owned_pods(env: Env, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [p for p in await env.pods() if any(r.get("uid") == uid and r.get("controller")
                                               for r in p["metadata"].get("ownerReferences") or ())]


async def count_is(env: Env, owner: Obj, n: int) -> bool:
    return len(await owned_pods(env, owner)) == n


async def test_creates_replicas_with_controller_refs_and_status() -> None:
    async with cluster(["replicaset"]) as env:
        rt = env.rt("apps", "v1", "replicasets")
        rs = await env.client.create(rt, rs_body(replicas=3), "default")
        await wait_for(lambda: count_is(env, rs, 3), what="3 pods")
        for p in await owned_pods(env, rs):
            assert p["metadata"]["name"].startswith("web-")
            assert p["metadata"]["labels"] == {"app": "web"}
            ref, = p["metadata"]["ownerReferences"]
            assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                           "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

        async def status_ok() -> Obj | None:
            st = (await env.client.get(rt, "web", "default")).get("status") or {}
            return st if st.get("replicas") == 3 and st.get("fullyLabeledReplicas") == 3 else None
        st = await wait_for(status_ok, what="status.replicas=3")
        assert st["observedGeneration"] == 1 and "readyReplicas" not in st

        await env.make_all_ready()

        async def ready() -> bool:
            st = (await env.client.get(rt, "web", "default"))["status"]
            return st.get("readyReplicas") == 3 and st.get("availableReplicas") == 3
        await wait_for(ready, what="3 ready+available")


async def test_scale_up_down_and_replace_deleted_pod() -> None:
    async with cluster(["replicaset"]) as env:
        rt = env.rt("apps", "v1", "replicasets")
        rs = await env.client.create(rt, rs_body(replicas=2), "default")
        await wait_for(lambda: count_is(env, rs, 2))
        await env.client.patch(rt, "web", {"spec": {"replicas": 5}}, "default")
        await wait_for(lambda: count_is(env, rs, 5), what="scale up to 5")
        # make two ready: scale-down must prefer the not-ready ones
        pods = await owned_pods(env, rs)
        for p in pods[:2]:
            await env.make_ready(p)
        keep = {p["metadata"]["name"] for p in pods[:2]}
        await env.client.patch(rt, "web", {"spec": {"replicas": 2}}, "default")
        await wait_for(lambda: count_is(env, rs, 2), what="scale down to 2")
        assert {p["metadata"]["name"] for p in await owned_pods(env, rs)} == keep
        victim = sorted(keep)[0]
        await env.client.delete(env.pods_rt, victim, "default")

        async def replaced() -> bool:
            names = {p["metadata"]["name"] for p in await owned_pods(env, rs)}
            return len(names) == 2 and victim not in names
        await wait_for(replaced, what="deleted pod replaced")


async def test_adopts_orphans_and_releases_pods_that_stop_matching() -> None:
    async with cluster(["replicaset"]) as env:
        orphan = await env.client.create(env.pods_rt, {"apiVersion": "v1", "kind": "Pod",
                                                       "metadata": {"name": "orphan", "labels": {"app": "web"}},
                                                       "spec": TEMPLATE["spec"]}, "default")
        rt = env.rt("apps", "v1", "replicasets")
        rs = await env.client.create(rt, rs_body(replicas=2), "default")
        await wait_for(lambda: count_is(env, rs, 2))
        names = {p["metadata"]["name"] for p in await owned_pods(env, rs)}
        assert "orphan" in names  # adopted: only one new pod was created
        assert orphan["metadata"]["uid"] in {p["metadata"]["uid"] for p in await owned_pods(env, rs)}
        await env.client.patch(env.pods_rt, "orphan", {"metadata": {"labels": {"app": "other"}}}, "default")

        async def released() -> bool:
            p = await env.client.get(env.pods_rt, "orphan", "default")
            return not p["metadata"].get("ownerReferences") and await count_is(env, rs, 2)
        await wait_for(released, what="release + replacement")
        assert len(await env.pods()) == 3


async def test_expectations_prevent_overshoot_when_informer_lags() -> None:
    async with cluster(["replicaset"]) as env:
        ctrl: Any = env.mgr.controllers["replicaset"]
        rt = env.rt("apps", "v1", "replicasets")
        # Hold pod events back from the controller, as a lagging watch would.
        informer = env.ctx.informers.informer(env.pods_rt)
        held: list[tuple[str, Obj]] = []
        real_apply = informer.apply
        informer.apply = lambda t, o: held.append((t, o))  # type: ignore[method-assign]
        rs = await env.client.create(rt, rs_body(replicas=4), "default")
        await wait_for(lambda: count_is(env, rs, 4))
        for _ in range(5):  # more syncs while the cache still shows no pods
            ctrl.enqueue_key("default/web")
            await asyncio.sleep(0.05)
        assert len(await owned_pods(env, rs)) == 4
        assert ctrl.expectations.pending("default/web") == (4, 0)
        informer.apply = real_apply  # type: ignore[method-assign]
        for t, o in held:
            real_apply(t, o)
        assert ctrl.expectations.satisfied("default/web")
        ctrl.enqueue_key("default/web")
        await asyncio.sleep(0.2)
        assert len(await env.pods()) == 4


async def test_replica_failure_condition_on_create_error() -> None:
    async with cluster(["replicaset"]) as env:
        rt = env.rt("apps", "v1", "replicasets")
        # The API server does not enforce quota; inject the error it would return.
        ctrl: Any = env.mgr.controllers["replicaset"]
        real_create = ctrl.pod_control.create
        calls = 0

        async def quota_create(*a: Any, **kw: Any) -> Obj:
            nonlocal calls
            calls += 1
            if calls > 1:
                raise ApiStatusError(403, "Forbidden", 'pods "web-x" is forbidden: exceeded quota: q')
            return await real_create(*a, **kw)
        ctrl.pod_control.create = quota_create
        await env.client.create(rt, rs_body(replicas=3), "default")

        async def failed() -> Obj | None:
            st = (await env.client.get(rt, "web", "default")).get("status") or {}
            conds = [c for c in st.get("conditions") or () if c["type"] == "ReplicaFailure"]
            return conds[0] if conds else None
        cond = await wait_for(failed, what="ReplicaFailure")
        assert cond["status"] == "True" and cond["reason"] == "FailedCreate" and "exceeded quota" in cond["message"]
        ctrl.pod_control.create = real_create
        ctrl.enqueue_key("default/web")
        await wait_for(lambda: _no_failure(env), what="condition cleared")
        assert len(await env.pods()) == 3


async def _no_failure(env: Env) -> bool:
    st = (await env.client.get(env.rt("apps", "v1", "replicasets"), "web", "default")).get("status") or {}
    return st.get("replicas") == 3 and not st.get("conditions")


async def test_replication_controller_uses_map_selector() -> None:
    async with cluster(["replicationcontroller"]) as env:
        rt = env.rt("", "v1", "replicationcontrollers")
        rc = await env.client.create(rt, {"apiVersion": "v1", "kind": "ReplicationController",
                                          "metadata": {"name": "web"},
                                          "spec": {"replicas": 2, "selector": {"app": "web"}, "template": TEMPLATE}},
                                     "default")
        await wait_for(lambda: count_is(env, rc, 2))
        ref = (await owned_pods(env, rc))[0]["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "ReplicationController" and ref["apiVersion"] == "v1"

        async def st() -> bool:
            return ((await env.client.get(rt, "web", "default")).get("status") or {}).get("replicas") == 2
        await wait_for(st)


def _pod(name: str, node: str = "", phase: str = "Pending", ready: bool = False, created: int = 0,
         restarts: int = 0, cost: int | None = None) -> Obj:
    p: Obj = {"metadata": {"name": name, "creationTimestamp": rfc3339(1_000_000 + created)},
              "spec": {"nodeName": node} if node else {},
              "status": {"phase": phase, "containerStatuses": [{"restartCount": restarts}],
                         "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                         "lastTransitionTime": rfc3339(1_000_000)}]}}
    if cost is not None:
        p["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return p


def test_scale_down_preference_order() -> None:
    cases = [
        ([_pod("assigned", "n1", "Running"), _pod("unassigned")], "unassigned"),
        ([_pod("running", "n1", "Running"), _pod("pending", "n1", "Pending")], "pending"),
        ([_pod("ready", "n1", "Running", True), _pod("notready", "n1", "Running")], "notready"),
        ([_pod("cheap", "n1", "Running", True, cost=-5), _pod("dear", "n1", "Running", True, cost=5)], "cheap"),
        ([_pod("alone", "n2", "Running", True), _pod("dup1", "n1", "Running", True),
          _pod("dup2", "n1", "Running", True, created=-1)], "dup1"),
        ([_pod("few", "n1", "Running", True), _pod("many", "n2", "Running", True, restarts=3)], "many"),
        ([_pod("old", "n1", "Running", True), _pod("new", "n2", "Running", True, created=10)], "new"),
    ]
    for pods, first in cases:
        assert pods_to_delete(pods, pods, 1)[0]["metadata"]["name"] == first, first
