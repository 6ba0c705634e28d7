"""Each controller runs as its own service account (`--use-service-account-credentials`).

A real in-process API server with Node,RBAC and service-account tokens; the manager connects as
`system:kube-controller-manager` (a static token standing in for its certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.support.wait import eventually
from tugboat.apiserver.authz.bootstrap_controller_roles import CONTROLLER_ROLES
from tugboat.apiserver.context import Config as ServerConfig
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.satoken import SigningKey, install
from tugboat.apiserver.server import ApiServer
from tugboat.client import ApiStatusError, Client, Config, InformerFactory
from tugboat.client.clock import FakeClock
from tugboat.controllers._sa_clients import SERVICE_ACCOUNTS, ServiceAccountClients
from tugboat.controllers.base import ControllerContext, registered
from tugboat.controllers.manager import ControllerManager
from tugboat.store.memory import MemoryBackend

_KEY = SigningKey.generate()
USERS = {"admin": UserInfo("admin", ("system:masters", "system:authenticated")),
         "kcm": UserInfo("system:kube-controller-manager", ("system:authenticated",))}


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[tuple[Client, Client]]:
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, config=ServerConfig(bookmark_interval=1.0), authorization_mode="Node,RBAC",
                    tokens={f"{k}-token": u for k, u in USERS.items()})
    install(srv, key=_KEY)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    url = f"http://127.0.0.1:{ts.port}"
    admin, kcm = Client(Config(server=url, token="admin-token")), Client(Config(server=url, token="kcm-token"))
    try:
        yield admin, kcm
    finally:
        await admin.close()
        await kcm.close()
        await ts.close()
        await srv.stop()
        await backend.close()


def job(name: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}}}


def test_every_controller_has_an_upstream_or_tugboat_role() -> None:
    assert set(registered()) <= set(SERVICE_ACCOUNTS), "a controller without a service account"
    assert set(SERVICE_ACCOUNTS.values()) <= set(CONTROLLER_ROLES)


async def test_job_controller_runs_as_its_service_account_and_cannot_read_secrets() -> None:
    async with server() as (admin, kcm):
        sa_clients = ServiceAccountClients(kcm)
        mgr = ControllerManager(ControllerContext(kcm, InformerFactory(kcm)), ["job"],
                                service_account_clients=sa_clients)
        task = asyncio.create_task(mgr.run())
        try:
            await asyncio.wait_for(mgr.running.wait(), 30)
            ctl = mgr.controllers["job"]
            who = await ctl.client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                           body={"apiVersion": "authentication.k8s.io/v1",
                                                 "kind": "SelfSubjectReview"})
            assert who["status"]["userInfo"]["username"] == "system:serviceaccount:kube-system:job-controller"
            with pytest.raises(ApiStatusError) as e:
                await ctl.client.request("GET", "/api/v1/namespaces/default/secrets")
            assert e.value.code == 403
            assert 'User "system:serviceaccount:kube-system:job-controller" cannot list resource "secrets"' \
                   in e.value.message
            # ...and still does its job: the Job's pod is created with its own credentials
            await admin.request("POST", "/apis/batch/v1/namespaces/default/jobs", body=job("j1"))

            async def pod_created() -> bool:
                pods = await admin.request("GET", "/api/v1/namespaces/default/pods")
                return any(p["metadata"]["name"].startswith("j1-") for p in pods["items"])
            await eventually(pod_created, 30, "the job controller creates a pod")
        finally:
            await mgr.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sa_clients.close()


async def test_manager_may_mint_tokens_only_for_controller_service_accounts() -> None:
    async with server() as (admin, kcm):
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
        for ns, sa in (("kube-system", "default"), ("default", "default")):
            await eventually(lambda ns=ns, sa=sa: _sa_exists(admin, ns, sa), 20, f"{ns}/{sa}")
            with pytest.raises(ApiStatusError) as e:
                await kcm.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", body=body)
            assert e.value.code == 403
        # without the per-controller credentials the manager's own identity has no write access
        with pytest.raises(ApiStatusError) as e:
            await kcm.request("POST", "/api/v1/namespaces/default/pods", body={
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert e.value.code == 403


async def _sa_exists(admin: Client, ns: str, sa: str) -> bool:
    try:
        await admin.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}")
        return True
    except ApiStatusError:
        await admin.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                            body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}})
        return False


async def test_tokens_are_renewed_at_80_percent_of_their_life() -> None:
    async with server() as (_, kcm):
        clock = FakeClock(start=1_800_000_000.0)
        sa_clients = ServiceAccountClients(kcm, clock=clock)
        try:
            c = await sa_clients.client_for("job-controller")
            first = c.config.token
            assert c.config.cert_file is None and first
            assert await sa_clients.renew_due() == []
            clock.advance(0.8 * 3600 + 1)
            assert await sa_clients.renew_due() == ["job-controller"]
            assert c.config.token and c.config.token != first
        finally:
            await sa_clients.close()
