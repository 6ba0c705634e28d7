"""The default ServiceAccount appears in every namespace and comes back when deleted."""

from __future__ import annotations

import asyncio
import functools

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import ApiStatusError, Client, InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.serviceaccount import ServiceAccountController

S = default_scheme()


SAS = _rt("", "v1", "serviceaccounts")
NSS = _rt("", "v1", "namespaces")


async def sa_uid(client: Client, ns: str) -> str | None:
    try:
        return str((await client.get(SAS, "default", ns))["metadata"]["uid"])
    except ApiStatusError:
        return None


async def test_default_service_account_created_and_recreated() -> None:
    async with running_apiserver() as (_srv, client):
        ctx = ControllerContext(client, InformerFactory(client))
        ctrl = ServiceAccountController(ctx)
        ctrl.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        task = asyncio.create_task(ctrl.run())
        try:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                await eventually(functools.partial(sa_uid, client, ns))
            await client.create(NSS, {"metadata": {"name": "team-a"}})
            first = await eventually(lambda: sa_uid(client, "team-a"))
            await client.delete(SAS, "default", "team-a")

            async def recreated() -> bool:
                uid = await sa_uid(client, "team-a")
                return uid is not None and uid != first
            await eventually(recreated)
        finally:
            await ctrl.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.informers.stop()
