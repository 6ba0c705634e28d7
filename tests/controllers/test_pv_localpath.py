"""local-path end to end without containers: provision, mount directory, reclaim Delete vs Retain on the node."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

from tests.controllers.test_pv_binder import NODES, PV, PVC, SC, controllers, pvc_body, wait_phase
from tests.controllers.test_pv_protection import gone
from tests.support.wait import eventually
from tugboat.client import Client
from tugboat.controllers.persistentvolume import PersistentVolumeController
from tugboat.controllers.pv_protection import PVProtectionController
from tugboat.controllers.pvc_protection import PVCProtectionController
from tugboat.node.volume_localpath import LocalPathVolumes
from tugboat.node.volumes import MountError, VolumeManager

CTRLS = (PersistentVolumeController, PVCProtectionController, PVProtectionController)


async def provisioned(client: Client, claim: str, node: str) -> tuple[dict[str, Any], str]:
    await client.create(PVC, pvc_body(claim, "1Gi", cls=None), "default")  # default class: local-path
    await client.patch(PVC, claim, {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": node}}},
                       "default")
    await wait_phase(client, PVC, claim, "Bound", "default")
    c = await client.get(PVC, claim, "default")
    return c, c["spec"]["volumeName"]


async def get(client: Client, kind: str, ns: str, name: str) -> dict[str, Any] | None:
    rt = PVC if kind == "PersistentVolumeClaim" else PV
    return await client.get(rt, name, ns or None)


async def test_directory_created_on_mount_and_reclaimed_by_policy() -> None:
    with tempfile.TemporaryDirectory(prefix="tug-localpath-") as tmp:
        async with controllers(*CTRLS) as client:
            await eventually(lambda: _has_class(client), 20, "local-path class")
            await client.create(NODES, {"metadata": {"name": "n1"}})
            svc = LocalPathVolumes(client, "n1", os.path.join(tmp, "storage"), retry=0.05)
            await svc.start()
            try:
                async def advertised() -> bool:
                    n = await client.get(NODES, "n1")
                    return (n["metadata"].get("annotations") or {}).get(
                        "storage.tugboat.io/local-path-dir") == os.path.realpath(os.path.join(tmp, "storage"))
                await eventually(advertised, 20, "node advertises its storage dir")
                claim, pv_name = await provisioned(client, "gone-with-claim", "n1")
                vm = VolumeManager(tmp)
                pod = {"metadata": {"uid": "u1", "namespace": "default", "name": "p"},
                       "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "gone-with-claim"}}]}}
                path = (await vm.setup(pod, lambda k, ns, n: get(client, k, ns, n)))["d"]
                assert path == os.path.join(os.path.realpath(tmp), "storage", f"{pv_name}_default_gone-with-claim")
                assert os.path.isdir(path)
                with open(os.path.join(path, "data"), "w") as f:
                    f.write("hello")
                await client.delete(PVC, "gone-with-claim", "default")
                await eventually(lambda: gone(client, PV, pv_name), 20, "PV deleted by the node")
                assert not os.path.exists(path)

                # Retain: the volume goes Released and the directory stays
                await client.create(SC, {"metadata": {"name": "keep"}, "provisioner": "rancher.io/local-path",
                                         "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
                await client.create(PVC, pvc_body("kept", "1Gi", cls="keep"), "default")
                await client.patch(PVC, "kept", {"metadata": {"annotations": {
                    "volume.kubernetes.io/selected-node": "n1"}}}, "default")
                await wait_phase(client, PVC, "kept", "Bound", "default")
                kept_pv = (await client.get(PVC, "kept", "default"))["spec"]["volumeName"]
                pod2 = {"metadata": {"uid": "u2", "namespace": "default", "name": "p2"},
                        "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "kept"}}]}}
                kept_path = (await vm.setup(pod2, lambda k, ns, n: get(client, k, ns, n)))["d"]
                await client.delete(PVC, "kept", "default")
                await wait_phase(client, PV, kept_pv, "Released")
                assert os.path.isdir(kept_path)
            finally:
                await svc.stop()


async def test_node_never_removes_paths_outside_its_storage_dir() -> None:
    with tempfile.TemporaryDirectory(prefix="tug-localpath-") as tmp:
        async with controllers() as client:
            outside = os.path.join(tmp, "precious")
            os.makedirs(outside)
            pv = {"metadata": {"name": "evil", "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path",
                                                               "local.path.provisioner/selected-node": "n1"}},
                  "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                           "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": outside}}}
            await client.create(PV, pv)
            await client.patch(PV, "evil", {"status": {"phase": "Released"}}, subresource="status")
            svc = LocalPathVolumes(client, "n1", os.path.join(tmp, "storage"), retry=0.05)
            await svc.start()
            try:
                await svc.reclaim("evil")
                assert os.path.isdir(outside)
                assert not await gone(client, PV, "evil")
            finally:
                await svc.stop()


async def _has_class(client: Client) -> bool:
    return bool([s for s in (await client.list(SC))["items"] if s["metadata"]["name"] == "local-path"])


async def test_volume_manager_refuses_new_users_of_a_claim_being_deleted() -> None:
    with tempfile.TemporaryDirectory(prefix="tug-localpath-") as tmp:
        claim: dict[str, Any] = {"metadata": {"name": "c", "namespace": "default"},
                                 "spec": {"volumeName": "v"}, "status": {"phase": "Bound"}}
        vol = {"spec": {"hostPath": {"path": os.path.join(tmp, "v"), "type": "DirectoryOrCreate"}}}

        async def getter(kind: str, ns: str, name: str) -> dict[str, Any] | None:
            return claim if kind == "PersistentVolumeClaim" else vol

        def pod(uid: str) -> dict[str, Any]:
            return {"metadata": {"uid": uid, "namespace": "default", "name": uid},
                    "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "c"}}]}}
        vm = VolumeManager(tmp)
        assert (await vm.setup(pod("old"), getter))["d"] == os.path.join(tmp, "v")
        claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        assert (await vm.setup(pod("old"), getter))["d"] == os.path.join(tmp, "v")  # resync of a running user
        with pytest.raises(MountError, match='persistentvolumeclaim "c" is being deleted'):
            await vm.setup(pod("new"), getter)
