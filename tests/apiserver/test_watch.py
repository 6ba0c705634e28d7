"""Watch semantics: start points, resume, 410, bookmarks, selector transitions, initial events."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from tugboat.apiserver.server import ApiServer

from .conftest import cm

CMS = "/api/v1/namespaces/default/configmaps"


async def collect(client: httpx.AsyncClient, url: str, n: int, timeout: float = 5) -> list[dict]:  # type: ignore[type-arg]
    out: list[dict] = []  # type: ignore[type-arg]

    async def run() -> None:
        async with client.stream("GET", url) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.strip():
                    out.append(orjson.loads(line))
                    if len(out) >= n:
                        return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_watch_from_rv_sees_later_changes_in_order(client: httpx.AsyncClient) -> None:
    rv = (await client.post(CMS, json=cm("w0"))).json()["metadata"]["resourceVersion"]
    task = asyncio.create_task(collect(client, f"{CMS}?watch=true&resourceVersion={rv}", 3))
    await asyncio.sleep(0.1)
    a = (await client.post(CMS, json=cm("w1"))).json()
    a["data"] = {"k": "v"}
    await client.put(f"{CMS}/w1", json=a)
    await client.delete(f"{CMS}/w1")
    events = await task
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


async def test_resume_replays_missed_events(client: httpx.AsyncClient) -> None:
    rv = (await client.post(CMS, json=cm("r0"))).json()["metadata"]["resourceVersion"]
    await client.post(CMS, json=cm("r1"))
    await client.post(CMS, json=cm("r2"))
    events = await collect(client, f"{CMS}?watch=1&resourceVersion={rv}", 2)
    assert [e["object"]["metadata"]["name"] for e in events] == ["r1", "r2"]


async def test_watch_without_rv_starts_with_synthetic_added(client: httpx.AsyncClient) -> None:
    await client.post(CMS, json=cm("s1"))
    events = await collect(client, f"{CMS}?watch=true", 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "s1"


async def test_compacted_rv_gives_410_error_event(client: httpx.AsyncClient, server: ApiServer) -> None:
    for i in range(3):
        await client.post(CMS, json=cm(f"c{i}"))
    await server.backend.compact(await server.backend.current_revision())
    events = await collect(client, f"{CMS}?watch=true&resourceVersion=1", 1)
    assert events[0]["type"] == "ERROR"
    st = events[0]["object"]
    assert st["code"] == 410 and st["reason"] == "Expired" and "too old resource version" in st["message"]


async def test_bookmarks_and_timeout(client: httpx.AsyncClient) -> None:
    rv = (await client.post(CMS, json=cm("b"))).json()["metadata"]["resourceVersion"]
    lines = []
    async with client.stream("GET", f"{CMS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
                                    "&timeoutSeconds=1") as r:
        async for line in r.aiter_lines():
            if line.strip():
                lines.append(orjson.loads(line))
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)
    assert lines[-1]["object"]["kind"] == "ConfigMap"
    assert int(lines[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


async def test_label_selector_transitions(client: httpx.AsyncClient) -> None:
    body = cm("l")
    body["metadata"]["labels"] = {"app": "x"}
    rv = (await client.post(CMS, json=body)).json()["metadata"]["resourceVersion"]
    task = asyncio.create_task(collect(client, f"{CMS}?watch=true&labelSelector=app%3Dx&resourceVersion={rv}", 2))
    await asyncio.sleep(0.1)
    await client.patch(f"{CMS}/l", content=b'{"metadata":{"labels":{"app":"y"}}}',
                       headers={"Content-Type": "application/merge-patch+json"})
    await client.patch(f"{CMS}/l", content=b'{"metadata":{"labels":{"app":"x"}}}',
                       headers={"Content-Type": "application/merge-patch+json"})
    events = await task
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


async def test_send_initial_events(client: httpx.AsyncClient) -> None:
    await client.post(CMS, json=cm("i1"))
    events = await collect(client, f"{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                                   "&resourceVersionMatch=NotOlderThan", 2)
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_table_watch_headers_only_first(client: httpx.AsyncClient) -> None:
    rv = (await client.post(CMS, json=cm("t0"))).json()["metadata"]["resourceVersion"]
    hdr = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}

    async def run() -> list[dict]:  # type: ignore[type-arg]
        out = []
        async with client.stream("GET", f"{CMS}?watch=true&resourceVersion={rv}", headers=hdr) as r:
            async for line in r.aiter_lines():
                if line.strip():
                    out.append(orjson.loads(line))
                    if len(out) == 2:
                        return out
        return out

    task = asyncio.create_task(run())
    await asyncio.sleep(0.1)
    await client.post(CMS, json=cm("t1"))
    await client.post(CMS, json=cm("t2"))
    events = await asyncio.wait_for(task, 5)
    assert events[0]["object"]["kind"] == "Table" and events[0]["object"]["columnDefinitions"]
    assert not events[1]["object"].get("columnDefinitions")
    assert events[1]["object"]["rows"][0]["cells"][0] == "t2"
