"""Garbage collector: background, foreground and orphan deletion against a real API server.

The server's in-process finalizer stand-in is off here (see cluster()), so every cascade
observed below is the garbage collector's work.
"""

from __future__ import annotations

from typing import Any

from tests.controllers.test_podcontrol import Env, cluster, wait_for
from tugboat.client import ApiStatusError

Obj = dict[str, Any]


def cm(name: str, owners: list[Obj] | None = None, block: bool = False) -> Obj:
    md: Obj = {"name": name}
    if owners:
        md["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
                                  "uid": o["metadata"]["uid"], **({"blockOwnerDeletion": True} if block else {})}
                                 for o in owners]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md}


async def exists(env: Env, name: str) -> Obj | None:
    try:
        return await env.client.get(env.rt("", "v1", "configmaps"), name, "default")
    except ApiStatusError:
        return None


async def gone(env: Env, *names: str) -> bool:
    return all([await exists(env, n) is None for n in names])


async def test_background_deletes_dependents_after_owner() -> None:
    async with cluster(["garbagecollector"]) as env:
        rt = env.rt("", "v1", "configmaps")
        owner = await env.client.create(rt, cm("owner"), "default")
        await env.client.create(rt, cm("child", [owner]), "default")
        await env.client.create(rt, cm("grandchild", [await env.client.get(rt, "child", "default")]), "default")
        other = await env.client.create(rt, cm("other-owner"), "default")
        await env.client.create(rt, cm("shared", [owner, other]), "default")
        await env.client.delete(rt, "owner", "default", propagation_policy="Background")
        await wait_for(lambda: gone(env, "child", "grandchild"), what="cascade")
        shared = await exists(env, "shared")  # still has a live owner: only the dead reference goes
        assert shared is not None
        assert [r["uid"] for r in shared["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]


async def test_dependent_of_owner_that_never_existed_is_collected() -> None:
    async with cluster(["garbagecollector"]) as env:
        rt = env.rt("", "v1", "configmaps")
        fake = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "no-such-uid"}}
        await env.client.create(rt, cm("orphaned", [fake]), "default")
        # an owner with the right name but another uid is not the owner
        await env.client.create(rt, cm("ghost"), "default")
        await wait_for(lambda: gone(env, "orphaned"), what="dangling dependent deleted")
        assert await exists(env, "ghost") is not None


async def test_foreground_deletes_blocking_dependents_first() -> None:
    async with cluster(["garbagecollector"]) as env:
        rt = env.rt("", "v1", "configmaps")
        owner = await env.client.create(rt, cm("owner"), "default")
        await env.client.create(rt, cm("blocker", [owner], block=True), "default")
        # a finalizer nobody removes keeps the blocking dependent around: the owner must wait
        await env.client.create(rt, {**cm("sticky", [owner], block=True),
                                     "metadata": {**cm("sticky", [owner], block=True)["metadata"],
                                                  "finalizers": ["example.com/hold"]}}, "default")
        await env.client.delete(rt, "owner", "default", propagation_policy="Foreground")
        await wait_for(lambda: gone(env, "blocker"), what="blocking dependent deleted")

        async def sticky_marked() -> bool:
            s = await exists(env, "sticky")
            return bool(s and s["metadata"].get("deletionTimestamp"))
        await wait_for(sticky_marked)
        o = await exists(env, "owner")
        assert o is not None and "foregroundDeletion" in o["metadata"]["finalizers"]
        await env.client.patch(rt, "sticky", {"metadata": {"finalizers": None}}, "default")
        await wait_for(lambda: gone(env, "owner", "sticky"), what="owner deleted last")


async def test_orphan_strips_owner_references_then_deletes_owner() -> None:
    async with cluster(["garbagecollector"]) as env:
        rt = env.rt("", "v1", "configmaps")
        owner = await env.client.create(rt, cm("owner"), "default")
        await env.client.create(rt, cm("kid", [owner], block=True), "default")
        await env.client.delete(rt, "owner", "default", propagation_policy="Orphan")
        await wait_for(lambda: gone(env, "owner"), what="owner deleted")
        kid = await exists(env, "kid")
        assert kid is not None and not kid["metadata"].get("ownerReferences")


async def test_deleting_deployment_cascades_to_replicasets_and_pods() -> None:
    async with cluster(["garbagecollector", "deployment", "replicaset"]) as env:
        from tests.controllers.test_deployment import deploy_body
        drt = env.rt("apps", "v1", "deployments")
        await env.client.create(drt, deploy_body(replicas=2), "default")

        async def two_pods() -> bool:
            return len(await env.pods()) == 2
        await wait_for(two_pods)
        await env.client.delete(drt, "web", "default", propagation_policy="Foreground")

        async def all_gone() -> bool:
            rs = (await env.client.list(env.rt("apps", "v1", "replicasets"), "default"))["items"]
            try:
                await env.client.get(drt, "web", "default")
                return False
            except ApiStatusError:
                return not rs and not await env.pods()
        await wait_for(all_gone, what="deployment, RS and pods deleted")
