"""Storage admission and the protection/ephemeral controllers against a real in-process API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.controllers.test_pv_binder import (
    PV,
    PVC,
    SC,
    controllers,
    pv_body,
    pvc_body,
    wait_event,
    wait_phase,
)
from tests.support.wait import eventually
from tests.support.wait import rt as _rt
from tugboat.client import ApiStatusError, Client
from tugboat.controllers.ephemeral_volume import EphemeralVolumeController
from tugboat.controllers.persistentvolume import PersistentVolumeController
from tugboat.controllers.pv_protection import PVProtectionController
from tugboat.controllers.pvc_protection import PVCProtectionController

PODS = _rt("", "v1", "pods")


def pod_body(name: str, volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                  "volumes": volumes}}


async def gone(client: Client, rt: Any, name: str, ns: str | None = None) -> bool:
    try:
        await client.get(rt, name, ns)
    except ApiStatusError as e:
        return e.code == 404
    return False


async def test_admission_adds_finalizers_and_default_class() -> None:
    async with controllers() as client:
        pv = await client.create(PV, pv_body("v", "1Gi"))
        assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
        c = await client.create(PVC, pvc_body("no-default-yet", "1Gi", cls=None), "default")
        assert "storageClassName" not in c["spec"]
        await client.create(SC, {"metadata": {"name": "fast", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "example.com/fast"})
        c = await client.create(PVC, pvc_body("defaulted", "1Gi", cls=None), "default")
        assert c["spec"]["storageClassName"] == "fast"
        assert c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        c = await client.create(PVC, pvc_body("explicit-none", "1Gi", cls=""), "default")
        assert c["spec"]["storageClassName"] == ""


async def test_resize_needs_expandable_class_and_only_grows() -> None:
    async with controllers(PersistentVolumeController) as client:
        await client.create(PV, pv_body("v", "5Gi"))
        await client.create(PVC, pvc_body("c", "1Gi"), "default")
        await wait_phase(client, PVC, "c", "Bound", "default")
        with pytest.raises(ApiStatusError) as ei:  # class "manual" does not exist: not expandable
            await client.patch(PVC, "c", {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}, "default")
        assert ei.value.code == 403
        assert "only dynamically provisioned pvc can be resized" in str(ei.value)
        with pytest.raises(ApiStatusError) as ei:
            await client.patch(PVC, "c", {"spec": {"resources": {"requests": {"storage": "500Mi"}}}}, "default")
        assert ei.value.code == 422


async def test_claim_in_use_is_kept_until_pod_goes() -> None:
    async with controllers(PersistentVolumeController, PVCProtectionController, PVProtectionController) as client:
        await client.create(PV, pv_body("v", "1Gi"))
        await client.create(PVC, pvc_body("data", "1Gi"), "default")
        await wait_phase(client, PVC, "data", "Bound", "default")
        user = pod_body("user", [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
        user["spec"]["nodeName"] = "n1"
        await client.create(PODS, user, "default")
        # a pod that is not scheduled does not hold the claim it names
        await client.create(PODS, pod_body("pending", [{"name": "d", "persistentVolumeClaim": {"claimName": "unused"}}]),
                            "default")
        await client.create(PVC, pvc_body("unused", "1Gi", cls="other"), "default")
        await client.delete(PVC, "data", "default")
        await client.delete(PV, "v")
        await client.delete(PVC, "unused", "default")
        # the unused claim deleted after it goes: by then the controller has looked at "data" too
        await eventually(lambda: gone(client, PVC, "unused", "default"), 20, "unused claim removed")
        claim = await client.get(PVC, "data", "default")
        assert claim["metadata"]["deletionTimestamp"]
        assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        assert (await client.get(PV, "v"))["status"]["phase"] == "Bound"
        await client.delete(PODS, "user", "default", grace_period_seconds=0)
        await eventually(lambda: gone(client, PVC, "data", "default"), 20, "claim removed")
        await eventually(lambda: gone(client, PV, "v"), 20, "volume removed after release")


async def test_ephemeral_volume_claim_owned_by_pod() -> None:
    async with controllers(EphemeralVolumeController) as client:
        tmpl = {"metadata": {"labels": {"app": "x"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                         "storageClassName": "manual"}}
        pod = await client.create(PODS, pod_body("p", [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": tmpl}}]),
                                  "default")

        async def claim() -> dict[str, Any] | None:
            try:
                return await client.get(PVC, "p-scratch", "default")
            except ApiStatusError:
                return None
        c = await eventually(claim, 20, "ephemeral claim")
        assert c["metadata"]["labels"] == {"app": "x"}
        assert c["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
        assert c["metadata"]["ownerReferences"][0]["controller"] is True
        assert c["spec"]["resources"]["requests"]["storage"] == "1Gi"
        # a claim with that name not owned by the pod is reported, not used
        await client.create(PVC, pvc_body("q-scratch", "1Gi"), "default")
        await client.create(PODS, pod_body("q", [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": tmpl}}]),
                            "default")
        msg = await wait_event(client, "q", "FailedBinding")
        assert msg == "PVC default/q-scratch was not created for pod default/q (pod is not owner)"
