"""LIST: pagination from one snapshot, expired continue tokens, selectors, Tables."""

from __future__ import annotations

import httpx

from tugboat.apiserver.server import ApiServer

from .conftest import cm

CMS = "/api/v1/namespaces/default/configmaps"


async def test_pagination_is_consistent_under_writes(client: httpx.AsyncClient) -> None:
    for i in range(10):
        await client.post(CMS, json=cm(f"p{i:02d}"))
    r = (await client.get(f"{CMS}?limit=4")).json()
    names = [i["metadata"]["name"] for i in r["items"]]
    assert r["metadata"]["remainingItemCount"] == 6
    rv = r["metadata"]["resourceVersion"]
    await client.delete(f"{CMS}/p05")
    await client.post(CMS, json=cm("p99"))
    token = r["metadata"]["continue"]
    while token:
        r = (await client.get(f"{CMS}?limit=4&continue={token}")).json()
        assert r["metadata"]["resourceVersion"] == rv
        names += [i["metadata"]["name"] for i in r["items"]]
        token = r["metadata"].get("continue")
    assert names == [f"p{i:02d}" for i in range(10)]


async def test_expired_continue_is_410(client: httpx.AsyncClient, server: ApiServer) -> None:
    for i in range(3):
        await client.post(CMS, json=cm(f"e{i}"))
    token = (await client.get(f"{CMS}?limit=1")).json()["metadata"]["continue"]
    await client.post(CMS, json=cm("later"))
    await server.backend.compact(await server.backend.current_revision())
    r = await client.get(f"{CMS}?limit=1&continue={token}")
    assert r.status_code == 410 and r.json()["reason"] == "Expired"
    assert r.json()["message"].startswith("The provided continue parameter is too old")


async def test_selectors(client: httpx.AsyncClient) -> None:
    for name, app in (("a", "x"), ("b", "y"), ("c", "x")):
        body = cm(name)
        body["metadata"]["labels"] = {"app": app}
        await client.post(CMS, json=body)
    r = (await client.get(f"{CMS}?labelSelector=app%3Dx")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["a", "c"]
    r = (await client.get(f"{CMS}?labelSelector=app%3Dx&limit=1")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["a"] and r["metadata"]["continue"]
    r = (await client.get(f"{CMS}?fieldSelector=metadata.name%3Db")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["b"]
    r = (await client.get("/api/v1/configmaps?fieldSelector=metadata.name%3Db")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["b"]
    r = (await client.get(f"{CMS}?fieldSelector=metadata.name!%3Db")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["a", "c"]


async def test_table_list(client: httpx.AsyncClient) -> None:
    await client.post(CMS, json=cm("tb"))
    r = await client.get(CMS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    t = r.json()
    assert t["kind"] == "Table" and t["rows"][0]["cells"][0] == "tb"
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert t["metadata"]["resourceVersion"]


async def test_exact_rv_list(client: httpx.AsyncClient) -> None:
    rv = (await client.post(CMS, json=cm("x1"))).json()["metadata"]["resourceVersion"]
    await client.post(CMS, json=cm("x2"))
    r = (await client.get(f"{CMS}?resourceVersion={rv}&resourceVersionMatch=Exact")).json()
    assert [i["metadata"]["name"] for i in r["items"]] == ["x1"]
    r = await client.get(f"{CMS}?resourceVersionMatch=Exact")
    assert r.status_code == 400
