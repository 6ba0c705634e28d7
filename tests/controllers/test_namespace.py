"""Namespace deletion by the controller (the API server's own finalizer switched off):
built-in and custom objects go, conditions report what is left, then the namespace goes."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.api.scheme import default_scheme
from tugboat.client import ApiStatusError, Client, InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.namespace import NamespaceController

S = default_scheme()


NSS = _rt("", "v1", "namespaces")
CMS = _rt("", "v1", "configmaps")
PODS = _rt("", "v1", "pods")
CRDS = _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions")
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
WIDGETS = "/apis/example.com/v1/namespaces/doomed/widgets"


async def ns_or_none(client: Client) -> dict[str, Any] | None:
    try:
        return await client.get(NSS, "doomed")
    except ApiStatusError as e:
        assert e.code == 404
        return None


async def test_namespace_controller_empties_and_removes_the_namespace() -> None:
    async with running_apiserver() as (srv, client):
        await srv.nsfinalizer.stop()  # the in-server finalizer must not do the work for us
        await client.create(CRDS, CRD)

        async def established() -> bool:
            crd = await client.get(CRDS, "widgets.example.com")
            return any(c["type"] == "Established" and c["status"] == "True"
                       for c in (crd.get("status") or {}).get("conditions") or ())
        await eventually(established)
        await client.create(NSS, {"metadata": {"name": "doomed"}})
        await client.create(CMS, {"metadata": {"name": "plain"}, "data": {"a": "b"}}, "doomed")
        await client.create(CMS, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}, "doomed")
        await client.create(PODS, {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}}, "doomed")
        await client.request("POST", WIDGETS, body={"apiVersion": "example.com/v1", "kind": "Widget",
                                                    "metadata": {"name": "w"}})

        ctx = ControllerContext(client, InformerFactory(client))
        ctrl = NamespaceController(ctx)
        assert NamespaceController.default_enabled is False
        ctrl.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        task = asyncio.create_task(ctrl.run())
        try:
            await client.delete(NSS, "doomed")

            async def held_reported() -> Any:
                ns = await ns_or_none(client)
                conds = {c["type"]: c for c in (ns or {}).get("status", {}).get("conditions") or ()}
                c = conds.get("NamespaceFinalizersRemaining")
                return conds if c and c["status"] == "True" else None
            conds = await eventually(held_reported)
            assert conds["NamespaceFinalizersRemaining"]["message"] == (
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")
            assert conds["NamespaceContentRemaining"]["message"] == (
                "Some resources are remaining: configmaps has 1 resource instances")
            assert conds["NamespaceDeletionDiscoveryFailure"]["reason"] == "ResourcesDiscovered"
            assert (await client.list(CMS, "doomed"))["items"][0]["metadata"]["name"] == "held"
            assert (await client.request("GET", WIDGETS))["items"] == []
            assert (await client.list(PODS, "doomed"))["items"] == []
            assert (await client.get(NSS, "doomed"))["spec"]["finalizers"] == ["kubernetes"]

            await client.patch(CMS, "held", {"metadata": {"finalizers": None}}, "doomed")

            async def gone() -> bool:
                return await ns_or_none(client) is None
            await eventually(gone)
        finally:
            await ctrl.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ctx.informers.stop()
