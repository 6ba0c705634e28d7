from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.client.fakeserver import FakeApiServer, rt_of
from tugboat.client.informer import DeletedFinalStateUnknown, InformerFactory, SharedInformer
from tugboat.client.rest import Client

CM = rt_of("", "v1", "ConfigMap")
FAST: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.2}


def cm(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "data": {"v": "0"}}


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Recorder:
    def __init__(self, inf: SharedInformer):
        self.events: list[tuple[str, str, str]] = []  # (type, key, rv)
        inf.add_event_handler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    @staticmethod
    def _k(o: dict[str, Any]) -> tuple[str, str]:
        md = o["metadata"]
        return f"{md.get('namespace')}/{md['name']}", md["resourceVersion"]

    def add(self, o: dict[str, Any]) -> None:
        self.events.append(("add", *self._k(o)))

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.events.append(("update", *self._k(new)))

    def delete(self, o: Any) -> None:
        if isinstance(o, DeletedFinalStateUnknown):
            self.events.append(("tombstone", o.key, o.obj["metadata"]["resourceVersion"]))
        else:
            self.events.append(("delete", *self._k(o)))


def cache_matches(api: FakeApiServer, inf: SharedInformer) -> bool:
    want = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in api.objects("configmaps")}
    have = {k: o["metadata"]["resourceVersion"] for k, o in inf.indexer.items()}
    return want == have


def watch_requests(api: FakeApiServer) -> list[dict[str, str]]:
    return [q for m, p, q in api.requests if m == "GET" and q.get("watch") == "true"]


def list_requests(api: FakeApiServer) -> list[dict[str, str]]:
    return [q for m, p, q in api.requests if m == "GET" and q.get("watch") != "true" and "configmaps" in p]


async def test_list_then_watch_sees_every_change(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    for i in range(7):
        await c.create(CM, cm(f"pre{i}"))
    inf = SharedInformer(c, CM, page_size=3, **FAST)
    rec = Recorder(inf)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        assert inf.has_synced()
        # Initial LIST: RV "0", pages of 3, continue tokens without resourceVersion.
        lists = list_requests(api)
        assert [q.get("limit") for q in lists] == ["3", "3", "3"]
        assert lists[0]["resourceVersion"] == "0" and "resourceVersion" not in lists[1]
        assert sorted(k for t, k, _ in rec.events if t == "add") == [f"default/pre{i}" for i in range(7)]
        rec.events.clear()
        a = await c.create(CM, cm("new"))
        b = await c.patch(CM, "pre1", {"data": {"v": "1"}}, "default")
        d = await c.delete(CM, "pre2", "default")
        await eventually(lambda: cache_matches(api, inf))
        await eventually(lambda: len(rec.events) == 3)
        assert rec.events == [("add", "default/new", a["metadata"]["resourceVersion"]),
                              ("update", "default/pre1", b["metadata"]["resourceVersion"]),
                              ("delete", "default/pre2", d["metadata"]["resourceVersion"])]
        # The watch started exactly at the list's RV, with bookmarks on.
        w = watch_requests(api)[0]
        assert w["resourceVersion"] == "107"  # 7 creates after RV 100: the list's RV
        assert w["allowWatchBookmarks"] == "true"
    finally:
        await inf.stop()


async def test_dropped_watch_resumes_without_loss_or_duplicates(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    inf = SharedInformer(c, CM, **FAST)
    rec = Recorder(inf)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(api.watchers) == 1)
        expected = []
        for round_ in range(3):
            for i in range(3):
                o = await c.patch(CM, "a", {"data": {"v": f"{round_}-{i}"}}, "default")
                expected.append(("update", "default/a", o["metadata"]["resourceVersion"]))
            await eventually(lambda: len(rec.events) == len(expected) + 1)
            last = inf.last_sync_resource_version
            assert api.drop_watches() == 1
            # Writes while the watch is down must still arrive, once.
            o = await c.patch(CM, "a", {"data": {"v": f"gap{round_}"}}, "default")
            expected.append(("update", "default/a", o["metadata"]["resourceVersion"]))
            want = round_ + 2
            await eventually(lambda: len(watch_requests(api)) == want)  # noqa: B023
            assert watch_requests(api)[-1]["resourceVersion"] == last
        await eventually(lambda: cache_matches(api, inf))
        await asyncio.sleep(0.1)
        assert rec.events[1:] == expected  # nothing lost, nothing twice, in order
        assert inf.reflector.lists == 1  # resumed by watching, not by relisting
    finally:
        await inf.stop()


async def test_bookmarks_advance_resource_version(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    inf = SharedInformer(c, CM, namespace="default", **FAST)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        # Writes in another namespace move the global RV; only bookmarks tell us about it.
        for i in range(3):
            await c.create(CM, cm(f"x{i}", ns="other"))
        await eventually(lambda: inf.last_sync_resource_version == str(api.rv), timeout=3)
        assert len(inf.indexer) == 1
    finally:
        await inf.stop()


async def test_expired_watch_relists_and_converges_with_tombstones(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    for n in ("keep", "change", "gone"):
        await c.create(CM, cm(n))
    inf = SharedInformer(c, CM, **FAST)
    rec = Recorder(inf)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(api.watchers) == 1)
        rv_before = inf.last_sync_resource_version
        rec.events.clear()
        # Take the watch away and keep it away while the world changes and history is compacted.
        api.fail("GET", 500, times=10_000, watch=True)
        api.drop_watches()
        changed = await c.patch(CM, "change", {"data": {"v": "9"}}, "default")
        gone = await c.get(CM, "gone", "default")
        await c.delete(CM, "gone", "default")
        added = await c.create(CM, cm("added"))
        api.compact()
        api.failures.clear()
        await eventually(lambda: cache_matches(api, inf))
        await eventually(lambda: len(rec.events) == 3)
        assert sorted(rec.events) == sorted([
            ("add", "default/added", added["metadata"]["resourceVersion"]),
            ("update", "default/change", changed["metadata"]["resourceVersion"]),
            ("tombstone", "default/gone", gone["metadata"]["resourceVersion"]),
        ])
        # The relist asked for data at least as new as what we had: never back in time.
        relist = list_requests(api)[-1]
        assert relist["resourceVersion"] == rv_before and "limit" not in relist
        assert inf.reflector.lists == 2
    finally:
        await inf.stop()


async def test_relist_uses_empty_rv_only_after_list_expired(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    inf = SharedInformer(c, CM, **FAST)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await eventually(lambda: len(api.watchers) == 1)
        last = inf.last_sync_resource_version
        api.fail("GET", 410, times=1, watch=True)  # the next watch is expired ...
        api.fail("GET", 410, times=1, watch=False)  # ... and so is the relist at our RV
        api.drop_watches()
        await eventually(lambda: inf.reflector.lists == 3 and len(api.watchers) == 1)
        rvs = [q.get("resourceVersion") for q in list_requests(api)]
        assert rvs == ["0", last, None]  # "0" once; then our RV; "" (omitted) only after a 410 on it
        assert cache_matches(api, inf)
    finally:
        await inf.stop()


async def test_expired_continue_token_falls_back_to_full_list(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    for i in range(5):
        await c.create(CM, cm(f"c{i}"))
    api.fail("GET", 410, times=1, watch=False, query_has="continue")
    inf = SharedInformer(c, CM, page_size=2, **FAST)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        assert len(inf.indexer) == 5
        assert "limit" not in list_requests(api)[-1]
    finally:
        await inf.stop()


async def test_label_selector_and_lister_and_indexers(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a", app="web", tier="fe"))
    await c.create(CM, cm("b", app="web", tier="be"))
    await c.create(CM, cm("c", ns="other", app="web", tier="fe"))
    await c.create(CM, cm("d", app="db"))
    factory = InformerFactory(c, **FAST)
    inf = factory.informer(CM, label_selector="app=web",
                           indexers={"tier": lambda o: [o["metadata"]["labels"].get("tier", "")]})
    assert factory.informer(CM, label_selector="app=web") is inf  # shared
    assert factory.informer(CM) is not inf
    factory.start()
    try:
        assert await factory.wait_for_sync(5)
        lister = inf.lister
        assert lister.get("a", "default") is not None and lister.get("d", "default") is None
        assert sorted(o["metadata"]["name"] for o in lister.list("default")) == ["a", "b"]
        assert sorted(o["metadata"]["name"] for o in lister.list(label_selector="tier=fe")) == ["a", "c"]
        assert sorted(o["metadata"]["name"] for o in lister.by_index("tier", "fe")) == ["a", "c"]
        await c.patch(CM, "a", {"metadata": {"labels": {"tier": "be"}}}, "default")
        await eventually(lambda: sorted(o["metadata"]["name"] for o in lister.by_index("tier", "be")) == ["a", "b"])
        assert [o["metadata"]["name"] for o in lister.by_index("tier", "fe")] == ["c"]
    finally:
        await factory.stop()


async def test_resync_and_late_handler(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    await c.create(CM, cm("a"))
    inf = SharedInformer(c, CM, **FAST)
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        adds: list[str] = []
        resyncs: list[str] = []
        inf.add_event_handler(on_add=lambda o: adds.append(o["metadata"]["name"]),
                              on_update=lambda old, new: resyncs.append(new["metadata"]["name"]) if old is new else None,
                              resync_period=0.05)
        assert adds == ["a"]  # a late handler gets the cache replayed as adds
        await eventually(lambda: len(resyncs) >= 2)
    finally:
        await inf.stop()


async def test_handler_exception_does_not_stop_others(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    inf = SharedInformer(c, CM, **FAST)

    def boom(o: dict[str, Any]) -> None:
        raise RuntimeError("x")

    got: list[str] = []
    inf.add_event_handler(on_add=boom)
    inf.add_event_handler(on_add=lambda o: got.append(o["metadata"]["name"]))
    inf.start()
    try:
        assert await inf.wait_for_sync(5)
        await c.create(CM, cm("a"))
        await eventually(lambda: got == ["a"])
    finally:
        await inf.stop()
