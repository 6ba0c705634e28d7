"""Pod watches by `spec.nodeName` (node agents, the scheduler's unassigned-pod watch): each sees
exactly its pods' events — including a pod leaving the selector when it is bound — while the
watch cache hands every event only to the watchers of the node(s) involved."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tugboat.apiserver.server import ApiServer

from .test_watch import collect

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


async def test_node_watches_see_only_their_pods(client: httpx.AsyncClient, server: ApiServer) -> None:
    rv = (await client.post(PODS, json=pod("p1"))).json()["metadata"]["resourceVersion"]
    url = f"{PODS}?watch=true&resourceVersion={rv}&fieldSelector="
    node_a = asyncio.create_task(collect(client, url + "spec.nodeName%3Da", 3))
    node_b = asyncio.create_task(collect(client, url + "spec.nodeName%3D%3Db", 2))
    unassigned = asyncio.create_task(collect(client, url + "spec.nodeName%3D", 2))
    everything = asyncio.create_task(collect(client, f"{PODS}?watch=true&resourceVersion={rv}", 6))
    cacher = await server.ctx.watch.cacher(server.scheme.get("", "v1", "pods").key_prefix)  # type: ignore[union-attr]
    for _ in range(250):
        if set(cacher.by_node) == {"a", "b", ""} and cacher.watchers:
            break
        await asyncio.sleep(0.02)
    assert set(cacher.by_node) == {"a", "b", ""} and len(cacher.watchers) == 1  # indexed, not broadcast

    r = await client.post(f"{PODS}/p1/binding", json={"apiVersion": "v1", "kind": "Binding",
                                                     "metadata": {"name": "p1"}, "target": {"name": "a"}})
    assert r.status_code == 201, r.text
    await client.post(PODS, json=pod("p2", "b"))
    await client.patch(f"{PODS}/p1", content=b'{"metadata":{"labels":{"x":"y"}}}',
                       headers={"Content-Type": "application/merge-patch+json"})
    await client.post(PODS, json=pod("p3"))
    await client.delete(f"{PODS}/p1", params={"gracePeriodSeconds": "0"})
    await client.post(PODS, json=pod("p4", "b"))

    assert seen(await node_a) == [("ADDED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]
    assert seen(await node_b) == [("ADDED", "p2"), ("ADDED", "p4")]
    assert seen(await unassigned) == [("DELETED", "p1"), ("ADDED", "p3")]  # bound: it left the selector
    assert len(await everything) == 6
