from __future__ import annotations

import asyncio

import pytest

from tests.client.fakeserver import FakeApiServer, rt_of
from tugboat.api.scheme import ResourceType
from tugboat.client.errors import ApiStatusError, is_already_exists, is_conflict, is_not_found
from tugboat.client.rest import Client, resource_path

CM = rt_of("", "v1", "ConfigMap")
NS = rt_of("", "v1", "Namespace")
DEPLOY = rt_of("apps", "v1", "Deployment")


def cm(name: str, ns: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": {"k": "v"}}


def test_paths() -> None:
    assert resource_path(CM, "ns1") == "/api/v1/namespaces/ns1/configmaps"
    assert resource_path(CM, None) == "/api/v1/configmaps"
    assert resource_path(DEPLOY, "a", "web", "scale") == "/apis/apps/v1/namespaces/a/deployments/web/scale"
    assert resource_path(NS, "ignored", "kube-system") == "/api/v1/namespaces/kube-system"


async def test_crud_roundtrip(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    created = await c.create(CM, cm("a"))
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    got = await c.get(CM, "a", "default")
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "w"
    updated = await c.update(CM, got)
    assert updated["data"]["k"] == "w"
    patched = await c.patch(CM, "a", {"data": {"x": "y"}}, "default")
    assert patched["data"] == {"k": "w", "x": "y"}
    jp = await c.patch(CM, "a", [{"op": "remove", "path": "/data/x"}], "default", patch_type="json")
    assert jp["data"] == {"k": "w"}
    await c.delete(CM, "a", "default")
    with pytest.raises(ApiStatusError) as ei:
        await c.get(CM, "a", "default")
    assert is_not_found(ei.value) and ei.value.code == 404
    assert ei.value.message == 'configmaps "a" not found'
    # User-Agent identifies the component.
    assert c.user_agent == "tugboat/test"


async def test_status_errors(fake: tuple[FakeApiServer, Client]) -> None:
    _, c = fake
    first = await c.create(CM, cm("a"))
    with pytest.raises(ApiStatusError) as ei:
        await c.create(CM, cm("a"))
    assert is_already_exists(ei.value) and ei.value.code == 409
    await c.patch(CM, "a", {"data": {"x": "1"}}, "default")
    with pytest.raises(ApiStatusError) as ei:
        await c.update(CM, first)  # stale resourceVersion
    assert is_conflict(ei.value)
    assert ei.value.status["kind"] == "Status"
    with pytest.raises(ApiStatusError) as ei:
        await c.delete(CM, "a", "default", preconditions={"resourceVersion": "1"})
    assert is_conflict(ei.value)


async def test_namespace_required_for_namespaced_get(fake: tuple[FakeApiServer, Client]) -> None:
    _, c = fake
    with pytest.raises(ValueError):
        await c.get(CM, "a")


async def test_list_with_selectors_and_paging(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    for i in range(5):
        await c.create(CM, cm(f"c{i}", app="x" if i % 2 else "y"))
    await c.create(CM, cm("other", ns="kube-system"))
    all_ = await c.list(CM)
    assert len(all_["items"]) == 6
    assert all(i["kind"] == "ConfigMap" and i["apiVersion"] == "v1" for i in all_["items"])
    only = await c.list(CM, "default", label_selector="app=x")
    assert sorted(i["metadata"]["name"] for i in only["items"]) == ["c1", "c3"]
    page = await c.list(CM, "default", limit=2)
    names = [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        page = await c.list(CM, "default", limit=2, continue_=page["metadata"]["continue"])
        names += [i["metadata"]["name"] for i in page["items"]]
    assert names == ["c0", "c1", "c2", "c3", "c4"]
    by_name = await c.list(CM, "default", field_selector="metadata.name=c2")
    assert [i["metadata"]["name"] for i in by_name["items"]] == ["c2"]


async def test_retries_429_honouring_retry_after(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    api.fail("GET", 429, times=2, headers={"Retry-After": "0"})
    assert (await c.get(CM, "a", "default"))["metadata"]["name"] == "a"
    assert sum(1 for m, p, _ in api.requests if m == "GET") == 3


async def test_5xx_retried_for_get_not_for_post(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    api.fail("GET", 500, times=2)
    assert (await c.get(CM, "a", "default"))["metadata"]["name"] == "a"
    api.fail("POST", 500, times=1)
    with pytest.raises(ApiStatusError) as ei:
        await c.create(CM, cm("b"))
    assert ei.value.code == 500
    posts = [r for r in api.requests if r[0] == "POST"]
    assert len(posts) == 2  # the first create plus exactly one failed attempt: no retry


async def test_retries_give_up(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    c.max_retries = 2
    api.fail("GET", 503, times=10)
    with pytest.raises(ApiStatusError) as ei:
        await c.get(CM, "a", "default")
    assert ei.value.code == 503
    assert len(api.requests) == 3


async def test_connection_refused_is_retried_then_raised() -> None:
    import socket

    import aiohttp

    from tugboat.client.config import Config

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = Client(Config(server=f"http://127.0.0.1:{port}"), max_retries=2, retry_base=0.01)
    try:
        with pytest.raises(aiohttp.ClientConnectorError):
            await c.get(CM, "a", "default")
    finally:
        await c.close()


async def test_rate_limit_spaces_requests(fake: tuple[FakeApiServer, Client]) -> None:
    api, _ = fake
    from tugboat.client.config import Config

    c = Client(Config(server=fake[1].config.server), qps=20, burst=2)
    loop = asyncio.get_running_loop()
    try:
        t0 = loop.time()
        for _ in range(6):
            await c.list(CM, "default")
        elapsed = loop.time() - t0
    finally:
        await c.close()
    # 2 from the burst, then 4 more at 20 qps: at least ~0.2 s.
    assert elapsed >= 0.18


async def test_watch_stream(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    rv = (await c.list(CM, "default"))["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async for typ, obj in c.watch(CM, "default", resource_version=rv, allow_bookmarks=False):
            seen.append((typ, obj["metadata"]["name"]))
            if len(seen) == 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    await c.create(CM, cm("b"))
    await c.patch(CM, "b", {"data": {"z": "1"}}, "default")
    await c.delete(CM, "a", "default")
    await asyncio.wait_for(task, 5)
    assert seen == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")]


async def test_watch_too_old_raises_expired(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    await c.create(CM, cm("b"))
    api.compact()
    with pytest.raises(ApiStatusError) as ei:
        async for _ in c.watch(CM, "default", resource_version="101"):
            pass
    assert ei.value.code == 410 and ei.value.reason == "Expired"


async def test_discovery_finds_custom_resource(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    crd = ResourceType("example.com", "v1", "Widget", "widgets", "widget", True, ("wd",), custom=True)
    api.scheme.add(crd)
    rt = await c.resource_for("example.com/v1", "Widget")
    assert (rt.plural, rt.namespaced, rt.short_names) == ("widgets", True, ("wd",))
    builtin = await c.resource_for("apps/v1", "Deployment")
    assert builtin.plural == "deployments"
    with pytest.raises(ApiStatusError):
        await c.resource_for("example.com/v1", "Gadget")
    obj = await c.create(rt, {"apiVersion": "example.com/v1", "kind": "Widget",
                              "metadata": {"name": "w", "namespace": "default"}})
    assert obj["metadata"]["name"] == "w"


async def test_request_subresource_path(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    got = await c.request("GET", "/api/v1/namespaces/default/configmaps/a")
    assert got["metadata"]["name"] == "a"
