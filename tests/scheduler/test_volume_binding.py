"""Scheduler + PV binder against a real API server: volume node affinity, WaitForFirstConsumer, RWOP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.controllers.test_pv_binder import PV, PVC, SC, pv_body, pvc_body
from tests.scheduler.util import node, pod, wait_for
from tests.support.apiserver import running_apiserver
from tugboat.client import Client, InformerFactory
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.persistentvolume import PersistentVolumeController
from tugboat.scheduler import Scheduler
from tugboat.scheduler.scheduler import NODE, POD

DIR_ANN = "storage.tugboat.io/local-path-dir"


@contextlib.asynccontextmanager
async def cluster(nodes: int = 2) -> AsyncIterator[Client]:
    async with running_apiserver(qps=0) as (_srv, client):
        for i in range(nodes):
            n = node(f"n{i}")
            n["metadata"]["annotations"] = {DIR_ANN: f"/data/n{i}/storage"}
            await client.create(NODE, n)
        ctx = ControllerContext(client, InformerFactory(client))
        pvc_ctrl = PersistentVolumeController(ctx)
        pvc_ctrl.setup()
        ctx.informers.start()
        assert await ctx.informers.wait_for_sync(10)
        ctrl_task = asyncio.create_task(pvc_ctrl.run())
        inf = InformerFactory(client)
        sched = Scheduler(client, inf, initial_backoff=0.05, max_backoff=0.2)
        await sched.start()
        try:
            yield client
        finally:
            await sched.stop()
            await inf.stop()
            await pvc_ctrl.stop()
            ctrl_task.cancel()
            await asyncio.gather(ctrl_task, return_exceptions=True)
            await ctx.informers.stop()


def claim_pod(name: str, claim: str) -> dict[str, Any]:
    return pod(name, spec={"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]})


async def node_of(client: Client, name: str) -> str:
    return (await client.get(POD, name, "default"))["spec"].get("nodeName") or ""


async def unschedulable_message(client: Client, name: str) -> str | None:
    p = await client.get(POD, name, "default")
    c = next((c for c in p.get("status", {}).get("conditions") or () if c["type"] == "PodScheduled"), None)
    return c["message"] if c and c["status"] == "False" else None


def local_pv(name: str, node_name: str) -> dict[str, Any]:
    body = pv_body(name, "1Gi", cls="local-storage")
    del body["spec"]["hostPath"]
    body["spec"]["local"] = {"path": f"/mnt/{name}"}
    body["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}
    return body


async def test_pod_follows_its_local_volume_and_static_wffc_binds_on_that_node() -> None:
    async with cluster(3) as client:
        await client.create(SC, {"metadata": {"name": "local-storage"}, "provisioner": "kubernetes.io/no-provisioner",
                                 "volumeBindingMode": "WaitForFirstConsumer"})
        await client.create(PV, local_pv("on-n2", "n2"))
        await client.create(PVC, pvc_body("c", "1Gi", cls="local-storage"), "default")
        await client.create(POD, claim_pod("p", "c"))
        assert await wait_for(lambda: node_of(client, "p"), 20) == "n2"
        claim = await client.get(PVC, "c", "default")
        assert claim["spec"]["volumeName"] == "on-n2"
        assert claim["status"]["phase"] == "Bound"
        # a second pod on the now-bound claim goes to the same node
        await client.create(POD, claim_pod("q", "c"))
        assert await wait_for(lambda: node_of(client, "q"), 20) == "n2"


async def test_local_path_claim_provisioned_on_chosen_node() -> None:
    async with cluster(2) as client:
        await wait_for(lambda: _exists(client, SC, "local-path"), 20)
        await client.create(PVC, pvc_body("data", "1Gi", cls="local-path"), "default")
        await client.create(POD, claim_pod("p", "data"))
        chosen = await wait_for(lambda: node_of(client, "p"), 20)
        claim = await client.get(PVC, "data", "default")
        assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == chosen
        assert claim["status"]["phase"] == "Bound"  # the pod is bound only after its claim
        pv = await client.get(PV, claim["spec"]["volumeName"])
        assert pv["spec"]["hostPath"]["path"].startswith(f"/data/{chosen}/storage/pvc-")
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [chosen]


async def test_unbound_immediate_claim_and_missing_claim_keep_pod_pending() -> None:
    async with cluster(2) as client:
        await client.create(SC, {"metadata": {"name": "slow"}, "provisioner": "example.com/none"})
        await client.create(PVC, pvc_body("imm", "1Gi", cls="slow"), "default")
        await client.create(POD, claim_pod("p", "imm"))
        msg = await wait_for(lambda: unschedulable_message(client, "p"), 20)
        assert msg.startswith("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
        await client.create(POD, claim_pod("q", "nothere"))
        msg = await wait_for(lambda: unschedulable_message(client, "q"), 20)
        assert msg.startswith('0/2 nodes are available: persistentvolumeclaim "nothere" not found.')
        # a matching volume appears: the claim binds and the pod schedules
        await client.create(PV, pv_body("late", "1Gi", cls="slow"))
        assert await wait_for(lambda: node_of(client, "p"), 20)


async def test_read_write_once_pod_second_pod_waits() -> None:
    async with cluster(2) as client:
        await client.create(PV, pv_body("solo", "1Gi", modes=("ReadWriteOncePod",)))
        await client.create(PVC, pvc_body("one", "1Gi", modes=("ReadWriteOncePod",)), "default")
        await client.create(POD, claim_pod("first", "one"))
        await wait_for(lambda: node_of(client, "first"), 20)
        await client.create(POD, claim_pod("second", "one"))
        msg = await wait_for(lambda: unschedulable_message(client, "second"), 20)
        assert msg.startswith("0/2 nodes are available: 2 node has pod using PersistentVolumeClaim with the same "
                              "name and ReadWriteOncePod access mode.")
        await client.delete(POD, "first", "default", grace_period_seconds=0)
        assert await wait_for(lambda: node_of(client, "second"), 20)


async def _exists(client: Client, rt: Any, name: str) -> bool:
    try:
        await client.get(rt, name)
        return True
    except Exception:  # noqa: BLE001
        return False
