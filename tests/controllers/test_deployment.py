"""Deployment controller against a real in-process API server (with the ReplicaSet controller).

Pods become Ready only when the test says so (no node agent here), which lets each test
observe the rollout between steps.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.controllers.test_podcontrol import Env, cluster, wait_for
from tugboat.client.clock import FakeClock
from tugboat.controllers import deployment_util as du

Obj = dict[str, Any]
CTRLS = ["deployment", "replicaset"]


def deploy_body(name: str = "web", replicas: int = 4, image: str = "v1", strategy: Obj | None = None,
                **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def drt(env: Env) -> Any:
    return env.rt("apps", "v1", "deployments")


def rsrt(env: Env) -> Any:
    return env.rt("apps", "v1", "replicasets")


async def rss(env: Env) -> list[Obj]:
    return sorted((await env.client.list(rsrt(env), "default"))["items"], key=du.revision)


async def get_d(env: Env, name: str = "web") -> Obj:
    return await env.client.get(drt(env), name, "default")


def rollout_done(d: Obj) -> bool:
    """kubectl's rollout status rule."""
    st, n = d.get("status") or {}, d["spec"]["replicas"]
    prog = du.condition(st, "Progressing") or {}
    return (d["metadata"]["generation"] <= st.get("observedGeneration", 0) and prog.get("reason") != du.TIMED_OUT
            and st.get("updatedReplicas", 0) >= n and st.get("replicas", 0) <= st.get("updatedReplicas", 0)
            and st.get("availableReplicas", 0) >= st.get("updatedReplicas", 0))


async def kubelet_until_done(env: Env, name: str = "web", check: Any = None, timeout: float = 20) -> Obj:
    """Make pods Ready one at a time until the rollout is done, calling check() at each step."""
    async def step() -> Obj | None:
        if check is not None:
            await check()
        d = await get_d(env, name)
        if rollout_done(d):
            return d
        for p in await env.pods():
            if not p["metadata"].get("deletionTimestamp") and not _ready(p):
                await env.make_ready(p)
                break
        await asyncio.sleep(0.05)
        return None
    return await wait_for(step, timeout, what="rollout complete")  # type: ignore[no-any-return]


def _ready(p: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or ())


async def test_first_rollout_names_rs_by_template_hash_and_completes() -> None:
    async with cluster(CTRLS) as env:
        d = await env.client.create(drt(env), deploy_body(), "default")
        d = await kubelet_until_done(env)
        rs, = await rss(env)
        h = rs["metadata"]["labels"][du.HASH_LABEL]
        assert rs["metadata"]["name"] == f"web-{h}" and h == du.compute_hash(d["spec"]["template"], None)
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: h}
        ann = rs["metadata"]["annotations"]
        assert ann[du.REVISION] == "1" and ann[du.DESIRED_REPLICAS] == "4" and ann[du.MAX_REPLICAS] == "5"
        assert d["metadata"]["annotations"][du.REVISION] == "1"
        st = d["status"]
        assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (4, 4, 4, 4)
        assert "unavailableReplicas" not in st
        conds = {c["type"]: c for c in st["conditions"]}
        assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
        assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
        assert conds["Progressing"]["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
        for p in await env.pods():
            assert p["metadata"]["labels"][du.HASH_LABEL] == h


async def test_rolling_update_respects_max_surge_and_max_unavailable() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=4), "default")
        await kubelet_until_done(env)
        await env.client.patch(drt(env), "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "v2"}]}}}}, "default", patch_type="strategic")
        seen_two = False

        async def invariant() -> None:
            nonlocal seen_two
            sets = await rss(env)
            seen_two = seen_two or len(sets) == 2
            assert sum(du.replicas(r) for r in sets) <= 5  # replicas + maxSurge
            live = [p for p in await env.pods() if not p["metadata"].get("deletionTimestamp")]
            assert len(live) <= 5
            assert sum(1 for p in live if _ready(p)) >= 4  # maxUnavailable = 0
        d = await kubelet_until_done(env, check=invariant)
        assert seen_two
        old, new = await rss(env)
        assert du.replicas(old) == 0 and du.replicas(new) == 4 and du.revision(new) == 2
        assert d["metadata"]["annotations"][du.REVISION] == "2"
        assert all(p["spec"]["containers"][0]["image"] == "v2" for p in await env.pods())


async def test_percent_surge_rounds_up_and_unavailable_down() -> None:
    d = deploy_body(replicas=10, strategy={"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    assert du.max_surge(d) == 3 and du.max_unavailable(d) == 2
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "0%", "maxUnavailable": "0%"}
    assert du.max_surge(d) == 0 and du.max_unavailable(d) == 1  # both zero: one may be unavailable


async def test_recreate_scales_old_to_zero_before_creating_new() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=2, strategy={"type": "Recreate"}), "default")
        await kubelet_until_done(env)
        await env.client.patch(drt(env), "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "v2"}]}}}}, "default", patch_type="strategic")

        async def no_mix() -> None:
            images = {p["spec"]["containers"][0]["image"] for p in await env.pods()}
            assert len(images) <= 1, images  # never old and new pods at once
        await kubelet_until_done(env, check=no_mix)
        images = {p["spec"]["containers"][0]["image"] for p in await env.pods()}
        assert images == {"v2"} and len(await env.pods()) == 2


async def test_pause_blocks_rollout_and_resume_continues() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=2), "default")
        await kubelet_until_done(env)
        await env.client.patch(drt(env), "web", {"spec": {"paused": True}}, "default")

        async def paused_cond() -> bool:
            c = du.condition((await get_d(env)).get("status") or {}, "Progressing") or {}
            return c.get("reason") == "DeploymentPaused" and c.get("status") == "Unknown"
        await wait_for(paused_cond, what="DeploymentPaused")
        await env.client.patch(drt(env), "web", {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "now"}}}}}, "default")
        await asyncio.sleep(0.5)
        assert len(await rss(env)) == 1  # nothing rolls while paused
        # scaling while paused still applies
        await env.client.patch(drt(env), "web", {"spec": {"replicas": 3}}, "default")
        await wait_for(lambda: _rs_sizes(env, [3]), what="scale while paused")
        await env.client.patch(drt(env), "web", {"spec": {"paused": None}}, "default")
        d = await kubelet_until_done(env)
        assert len(await rss(env)) == 2 and d["status"]["updatedReplicas"] == 3


async def _rs_sizes(env: Env, sizes: list[int]) -> bool:
    return [du.replicas(r) for r in await rss(env)] == sizes


async def test_rollback_by_reapplying_old_template_reuses_old_replicaset() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=2), "default")
        await kubelet_until_done(env)
        v1, = await rss(env)
        await env.client.patch(drt(env), "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "v2"}]}}}}, "default", patch_type="strategic")
        await kubelet_until_done(env)
        await env.client.patch(drt(env), "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "v1"}]}}}}, "default", patch_type="strategic")
        d = await kubelet_until_done(env)
        sets = await rss(env)
        assert len(sets) == 2
        back = next(r for r in sets if r["metadata"]["uid"] == v1["metadata"]["uid"])
        assert du.replicas(back) == 2 and du.revision(back) == 3
        assert back["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
        assert d["metadata"]["annotations"][du.REVISION] == "3"


async def test_revision_history_limit_deletes_oldest_replicasets() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=1, revisionHistoryLimit=1), "default")
        await kubelet_until_done(env)
        for img in ("v2", "v3", "v4"):
            await env.client.patch(drt(env), "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": img}]}}}}, "default", patch_type="strategic")
            await kubelet_until_done(env)

        async def cleaned() -> list[int] | None:
            revs = [du.revision(r) for r in await rss(env)]
            return revs if revs == [3, 4] else None
        await wait_for(cleaned, what="only revisions 3,4 kept")


async def test_progress_deadline_exceeded() -> None:
    clock = FakeClock()
    async with cluster(CTRLS, clock=clock) as env:
        await env.client.create(drt(env), deploy_body(replicas=1, progressDeadlineSeconds=30), "default")

        async def settled() -> bool:  # the pod exists and is counted; nothing will progress now
            st = (await get_d(env)).get("status") or {}
            c = du.condition(st, "Progressing") or {}
            return st.get("updatedReplicas") == 1 and c.get("reason") == "ReplicaSetUpdated"
        await wait_for(settled)
        clock.advance(31)
        env.mgr.controllers["deployment"].enqueue_key("default/web")

        async def timed_out() -> Obj | None:
            d = await get_d(env)
            c = du.condition(d.get("status") or {}, "Progressing") or {}
            return d if c.get("reason") == "ProgressDeadlineExceeded" else None
        d = await wait_for(timed_out, what="ProgressDeadlineExceeded")
        c = du.condition(d["status"], "Progressing")
        assert c is not None and c["status"] == "False" and c["message"].endswith("has timed out progressing.")
        a = du.condition(d["status"], "Available")
        assert a is not None and a["reason"] == "MinimumReplicasUnavailable"


async def test_manager_restart_creates_nothing_extra() -> None:
    async with cluster(CTRLS) as env:
        await env.client.create(drt(env), deploy_body(replicas=3), "default")
        await kubelet_until_done(env)
        before = ({p["metadata"]["uid"] for p in await env.pods()}, {r["metadata"]["uid"] for r in await rss(env)})
        rv_before = (await get_d(env))["metadata"]["resourceVersion"]
        await env.mgr.stop()
        from tugboat.client import InformerFactory
        from tugboat.controllers.base import ControllerContext
        from tugboat.controllers.manager import ControllerManager
        mgr2 = ControllerManager(ControllerContext(env.client, InformerFactory(env.client)), CTRLS)
        task = asyncio.create_task(mgr2.run())
        try:
            await asyncio.wait_for(mgr2.running.wait(), 10)
            for c in mgr2.controllers.values():  # force a full resync of everything
                for key in ("default/web",) + tuple(f"default/{r['metadata']['name']}" for r in await rss(env)):
                    c.enqueue_key(key)
            await asyncio.sleep(0.5)
            after = ({p["metadata"]["uid"] for p in await env.pods()}, {r["metadata"]["uid"] for r in await rss(env)})
            assert after == before
            assert (await get_d(env))["metadata"]["resourceVersion"] == rv_before
        finally:
            await mgr2.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
