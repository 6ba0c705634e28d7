"""API Priority and Fairness (flowcontrol.py): upstream's classification, seats, and the point
of it all — a node's Lease renewal is served while bulk traffic waits for seats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestServer

from tugboat.api.errors import ApiError
from tugboat.apiserver.context import Config
from tugboat.apiserver.flowcontrol import FlowControl, Level, classify
from tugboat.apiserver.request import ANONYMOUS, UserInfo
from tugboat.apiserver.requestinfo import parse
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend

AUTH = "system:authenticated"
ADMIN = UserInfo("admin", ("system:masters", AUTH))
NODE = UserInfo("system:node:n1", ("system:nodes", AUTH))
SCHED = UserInfo("system:kube-scheduler", (AUTH,))
KS_SA = UserInfo("system:serviceaccount:kube-system:deployment-controller",
                 ("system:serviceaccounts", "system:serviceaccounts:kube-system", AUTH))
SA = UserInfo("system:serviceaccount:default:app", ("system:serviceaccounts", "system:serviceaccounts:default", AUTH))
ALICE = UserInfo("alice", (AUTH,))


@pytest.mark.parametrize(("user", "method", "path", "query", "level"), [
    (ADMIN, "POST", "/api/v1/namespaces/default/pods", {}, None),  # exempt: system:masters
    (ALICE, "GET", "/readyz", {}, None),  # probes
    (ALICE, "GET", "/api/v1/pods", {"watch": "true"}, None),  # long-running
    (ALICE, "GET", "/api/v1/namespaces/default/pods/p/log", {}, None),
    (NODE, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", {}, "node-high"),
    (NODE, "PUT", "/api/v1/nodes/n1/status", {}, "node-high"),
    (NODE, "PUT", "/api/v1/namespaces/default/pods/p/status", {}, "system"),
    (SCHED, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler", {},
     "leader-election"),
    (SCHED, "POST", "/api/v1/namespaces/default/pods/p/binding", {}, "workload-high"),
    (KS_SA, "POST", "/apis/apps/v1/namespaces/default/replicasets", {}, "workload-high"),
    (KS_SA, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", {}, "leader-election"),
    (SA, "GET", "/api/v1/namespaces/default/configmaps", {}, "workload-low"),
    (ALICE, "POST", "/api/v1/namespaces/default/configmaps", {}, "global-default"),
    (ANONYMOUS, "GET", "/api/v1/namespaces/default/configmaps", {}, "global-default"),
])
def test_classify_like_upstream_bootstrap_flowschemas(user: UserInfo, method: str, path: str,
                                                       query: dict[str, str], level: str | None) -> None:
    assert classify(user, parse(method, path, query)) == level


def test_seats_follow_upstream_shares() -> None:
    fc = FlowControl(total_seats=245)  # the sum of the shares: one seat per share
    assert {n: lv.seats for n, lv in fc.levels.items()} == {
        "node-high": 40, "system": 30, "leader-election": 10, "workload-high": 40, "workload-low": 100,
        "global-default": 20, "catch-all": 5}


async def test_level_queues_fifo_and_rejects_when_full() -> None:
    lv = Level("t", seats=1, queue_limit=2)
    await lv.acquire()
    order: list[int] = []

    async def req(i: int) -> None:
        await lv.acquire()
        order.append(i)
        lv.release()

    tasks = [asyncio.create_task(req(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    assert len(lv.waiting) == 2 and not order
    with pytest.raises(ApiError) as e:
        await lv.acquire()
    assert e.value.code == 429 and e.value.headers["Retry-After"] == "1"
    lv.release()
    await asyncio.gather(*tasks)
    assert order == [1, 2] and lv.executing == 0


async def test_cancelled_waiter_gives_back_nothing_it_did_not_get() -> None:
    lv = Level("t", seats=1, queue_limit=10)
    await lv.acquire()
    waiter = asyncio.create_task(lv.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    lv.release()
    assert lv.executing == 0 and not lv.waiting
    await asyncio.wait_for(lv.acquire(), 5)  # the seat is free again


@pytest.fixture
async def server() -> AsyncIterator[tuple[ApiServer, str]]:
    backend = MemoryBackend()
    await backend.start()
    tokens = {"t-node": NODE, "t-alice": ALICE}
    srv = ApiServer(backend, config=Config(bookmark_interval=1.0), tokens=tokens)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    try:
        yield srv, f"http://127.0.0.1:{ts.port}"
    finally:
        await ts.close()
        await srv.stop()
        await backend.close()


async def test_lease_renewal_is_served_while_bulk_waits_for_a_seat(server: tuple[ApiServer, str]) -> None:
    srv, url = server
    bulk = srv.flowcontrol.levels["global-default"]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "n1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        bulk.executing = bulk.seats  # every seat of the bulk level is taken
        alice = asyncio.create_task(c.post("/api/v1/namespaces/default/configmaps", json=cm,
                                           headers={"Authorization": "Bearer t-alice"}))
        for _ in range(500):
            if bulk.waiting:
                break
            await asyncio.sleep(0.01)
        assert len(bulk.waiting) == 1 and not alice.done()  # queued, not served
        r = await c.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json=lease,
                         headers={"Authorization": "Bearer t-node"})
        assert r.status_code == 201, r.text  # the node's own level has seats
        assert not alice.done()
        bulk.release()  # one seat frees up: the queued request runs
        assert (await alice).status_code == 201
        bulk.executing -= bulk.seats - 1
        assert bulk.executing == 0
