"""PV binder against a real in-process API server: binding, provisioning, Pending reasons, reclaim."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.client import ApiStatusError, Client, InformerFactory
from tugboat.controllers.base import BaseController, ControllerContext
from tugboat.controllers.persistentvolume import PersistentVolumeController
from tugboat.controllers.pvc_protection import PVCProtectionController

PV = _rt("", "v1", "persistentvolumes")
PVC = _rt("", "v1", "persistentvolumeclaims")
SC = _rt("storage.k8s.io", "v1", "storageclasses")
NODES = _rt("", "v1", "nodes")
EVENTS = _rt("", "v1", "events")
Obj = dict[str, Any]


@contextlib.asynccontextmanager
async def controllers(*classes: Callable[[ControllerContext], BaseController],
                      options: dict[str, dict[str, Any]] | None = None) -> AsyncIterator[Client]:
    async with running_apiserver() as (_srv, client):
        ctx = ControllerContext(client, InformerFactory(client), options=options or {})
        ctrls = [c(ctx) for c in classes]
        for c in ctrls:
            c.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        tasks = [asyncio.create_task(c.run()) for c in ctrls]
        try:
            yield client
        finally:
            for c in ctrls:
                await c.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.informers.stop()


def pv_body(name: str, size: str, *, cls: str = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",),
            policy: str = "Retain", **extra: Any) -> Obj:
    spec: Obj = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
                 "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": f"/tmp/tugboat-test/{name}"}}
    spec.update(extra)
    return {"metadata": {"name": name}, "spec": spec}


def pvc_body(name: str, size: str, *, cls: str | None = "manual", modes: tuple[str, ...] = ("ReadWriteOnce",),
             **extra: Any) -> Obj:
    spec: Obj = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    spec.update(extra)
    return {"metadata": {"name": name}, "spec": spec}


async def phase(client: Client, rt: Any, name: str, ns: str | None = None) -> str:
    try:
        return str(((await client.get(rt, name, ns)).get("status") or {}).get("phase"))
    except ApiStatusError:
        return "<gone>"


async def wait_phase(client: Client, rt: Any, name: str, want: str, ns: str | None = None) -> None:
    async def check() -> bool:
        return await phase(client, rt, name, ns) == want
    await eventually(check, 20, f"{rt.kind} {name} {want}")


async def events_for(client: Client, name: str) -> list[tuple[str, str]]:
    items = (await client.list(EVENTS, "default"))["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


async def wait_event(client: Client, name: str, reason: str) -> str:
    async def check() -> str | None:
        return next((m for r, m in await events_for(client, name) if r == reason), None)
    return str(await eventually(check, 20, f"event {reason} for {name}"))


async def test_claim_binds_smallest_fitting_volume() -> None:
    async with controllers(PersistentVolumeController) as client:
        await client.create(PV, pv_body("big", "10Gi"))
        await client.create(PV, pv_body("small", "2Gi"))
        await client.create(PV, pv_body("tiny", "500Mi"))
        await client.create(PV, pv_body("rwx", "1Gi", modes=("ReadWriteMany",)))
        await wait_phase(client, PV, "tiny", "Available")
        await client.create(PVC, pvc_body("data", "1Gi"), "default")
        await wait_phase(client, PVC, "data", "Bound", "default")
        claim = await client.get(PVC, "data", "default")
        assert claim["spec"]["volumeName"] == "small"
        ann = claim["metadata"]["annotations"]
        assert ann["pv.kubernetes.io/bind-completed"] == "yes"
        assert ann["pv.kubernetes.io/bound-by-controller"] == "yes"
        assert claim["status"]["capacity"] == {"storage": "2Gi"}
        assert claim["status"]["accessModes"] == ["ReadWriteOnce"]
        await wait_phase(client, PV, "small", "Bound")
        pv = await client.get(PV, "small")
        assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
        assert pv["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
        assert await phase(client, PV, "big") == "Available"


async def test_prebound_volume_name_and_selector() -> None:
    async with controllers(PersistentVolumeController) as client:
        await client.create(PV, pv_body("a", "1Gi"))
        b = pv_body("b", "1Gi")
        b["metadata"]["labels"] = {"tier": "gold"}
        await client.create(PV, b)
        await client.create(PV, pv_body("c", "5Gi"))
        await client.create(PVC, pvc_body("gold", "1Gi", selector={"matchLabels": {"tier": "gold"}}), "default")
        await client.create(PVC, pvc_body("pinned", "1Gi", volumeName="c"), "default")
        await wait_phase(client, PVC, "gold", "Bound", "default")
        await wait_phase(client, PVC, "pinned", "Bound", "default")
        assert (await client.get(PVC, "gold", "default"))["spec"]["volumeName"] == "b"
        pinned = await client.get(PVC, "pinned", "default")
        # the user chose the volume: no bound-by-controller on the claim
        assert "pv.kubernetes.io/bound-by-controller" not in pinned["metadata"]["annotations"]
        assert await phase(client, PV, "a") == "Available"


async def test_missing_class_stays_pending_with_event() -> None:
    async with controllers(PersistentVolumeController) as client:
        await client.create(PVC, pvc_body("lost", "1Gi", cls="nope"), "default")
        msg = await wait_event(client, "lost", "ProvisioningFailed")
        assert msg == 'storageclass.storage.k8s.io "nope" not found'
        assert await phase(client, PVC, "lost", "default") == "Pending"
        await client.create(PVC, pvc_body("noclass", "1Gi", cls=""), "default")
        msg = await wait_event(client, "noclass", "FailedBinding")
        assert msg == "no persistent volumes available for this claim and no storage class is set"


async def test_local_path_waits_for_consumer_then_provisions_on_selected_node() -> None:
    async with controllers(PersistentVolumeController) as client:
        sc = await eventually(lambda: _get(client, SC, "local-path"), 20, "default class")
        assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert (sc["provisioner"], sc["volumeBindingMode"], sc["reclaimPolicy"], sc["allowVolumeExpansion"]) == (
            "rancher.io/local-path", "WaitForFirstConsumer", "Delete", True)
        await client.create(PVC, pvc_body("web", "1Gi", cls="local-path"), "default")
        msg = await wait_event(client, "web", "WaitForFirstConsumer")
        assert msg == "waiting for first consumer to be created before binding"
        await client.create(NODES, {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"},
                                                 "annotations": {"storage.tugboat.io/local-path-dir": "/d/storage"}}})
        await client.patch(PVC, "web", {"metadata": {"annotations": {
            "volume.kubernetes.io/selected-node": "n1"}}}, "default")
        await wait_phase(client, PVC, "web", "Bound", "default")
        claim = await client.get(PVC, "web", "default")
        pv = await client.get(PV, claim["spec"]["volumeName"])
        uid = claim["metadata"]["uid"]
        assert pv["metadata"]["name"] == f"pvc-{uid}"
        assert pv["spec"]["hostPath"] == {"path": f"/d/storage/pvc-{uid}_default_web", "type": "DirectoryOrCreate"}
        assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [
            "n1"]
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"
        assert claim["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == "rancher.io/local-path"
        # expansion: the class allows it, a directory just grows
        await client.patch(PVC, "web", {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}, "default")

        async def grown() -> bool:
            c = await client.get(PVC, "web", "default")
            return bool((c["status"].get("capacity") or {}).get("storage") == "2Gi")
        await eventually(grown, 20, "claim capacity 2Gi")
        assert (await client.get(PV, f"pvc-{uid}"))["spec"]["capacity"]["storage"] == "2Gi"


async def test_deleted_claim_releases_retain_and_fails_undeletable_delete() -> None:
    async with controllers(PersistentVolumeController, PVCProtectionController) as client:
        await client.create(PV, pv_body("keep", "1Gi"))
        await client.create(PV, pv_body("drop", "1Gi", cls="other", policy="Delete"))
        await client.create(PVC, pvc_body("k", "1Gi"), "default")
        await client.create(PVC, pvc_body("d", "1Gi", cls="other"), "default")
        await wait_phase(client, PVC, "k", "Bound", "default")
        await wait_phase(client, PVC, "d", "Bound", "default")
        await client.delete(PVC, "k", "default")
        await client.delete(PVC, "d", "default")
        await wait_phase(client, PV, "keep", "Released")
        await wait_phase(client, PV, "drop", "Failed")
        # a new claim does not take the Released volume
        await client.create(PVC, pvc_body("k2", "1Gi"), "default")
        await wait_event(client, "k2", "ProvisioningFailed")
        assert await phase(client, PVC, "k2", "default") == "Pending"


async def _get(client: Client, rt: Any, name: str) -> Obj | None:
    try:
        return await client.get(rt, name)
    except ApiStatusError:
        return None


async def test_claim_without_class_gets_default_class_once_one_exists() -> None:
    no_bootstrap = {"persistentvolume-binder": {"create_default_class": False}}
    async with controllers(PersistentVolumeController, options=no_bootstrap) as client:
        await client.create(PVC, pvc_body("early", "1Gi", cls=None), "default")
        await client.create(PVC, pvc_body("none", "1Gi", cls=""), "default")
        await wait_event(client, "early", "FailedBinding")
        assert "storageClassName" not in (await client.get(PVC, "early", "default"))["spec"]
        await client.create(SC, {"metadata": {"name": "std", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "example.com/std"})

        async def classed() -> str | None:
            return (await client.get(PVC, "early", "default"))["spec"].get("storageClassName")
        assert await eventually(classed, 20, "default class assigned") == "std"
        await wait_event(client, "early", "ExternalProvisioning")
        assert (await client.get(PVC, "none", "default"))["spec"]["storageClassName"] == ""  # "" means: no class
        for name in ("early", "none"):  # a class, once set ("" included), never changes
            try:
                await client.patch(PVC, name, {"spec": {"storageClassName": "other"}}, "default")
                raise AssertionError(f"class of {name} changed")
            except ApiStatusError as e:
                assert e.code == 422
