"""kube-root-ca.crt: published into every namespace, restored after edits and deletion."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually, rt
from tugboat.client import Client, InformerFactory, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.rootcacert import DESCRIPTION_ANNOTATION, RootCACertPublisher

CMS, NSS = rt("", "v1", "configmaps"), rt("", "v1", "namespaces")
CA = "-----BEGIN CERTIFICATE-----\nMIIB-test\n-----END CERTIFICATE-----\n"


async def published(c: Client, ns: str) -> dict[str, Any] | None:
    try:
        cm = await c.get(CMS, "kube-root-ca.crt", ns)
    except ApiStatusError as e:
        if is_not_found(e):
            return None
        raise
    ok = cm.get("data") == {"ca.crt": CA} and DESCRIPTION_ANNOTATION in (cm["metadata"].get("annotations") or {})
    return cm if ok else None


async def test_publishes_and_restores() -> None:
    async with running_apiserver() as (_srv, c):
        ctx = ControllerContext(c, InformerFactory(c),
                                options={RootCACertPublisher.name: {"root_ca": CA}})
        ctl = RootCACertPublisher(ctx)
        ctl.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        task = asyncio.create_task(ctl.run())
        try:
            await eventually(lambda: published(c, "default"), what="CA in default")
            await c.create(NSS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
            cm = await eventually(lambda: published(c, "team"), what="CA in a new namespace")
            cm["data"] = {"ca.crt": "tampered"}
            await c.update(CMS, cm, "team")
            await eventually(lambda: published(c, "team"), what="CA restored after an edit")
            await c.delete(CMS, "kube-root-ca.crt", "team")
            await eventually(lambda: published(c, "team"), what="CA restored after deletion")
        finally:
            await ctl.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.informers.stop()
