"""The agent registers its Node, heart-beats, and runs a bound pod to Running with full status."""

from __future__ import annotations

from tests.node.helpers import advance, condition, cstatus, get_pod, make_pod, sim_agent, until
from tugboat.node.lease import LEASE, LEASE_NAMESPACE
from tugboat.node.nodestatus import NODE
from tugboat.node.sources import POD


async def test_node_registers_with_capacity_conditions_and_renews_lease(tmp_path):
    cap = {"cpu": "4", "memory": "16Gi", "pods": "110", "nvidia.com/gpu": "1"}
    async with sim_agent(tmp_path, capacity=cap, labels={"zone": "a"}) as (agent, client, clock):
        node = await client.get(NODE, "n1")
        st = node["status"]
        assert st["capacity"]["nvidia.com/gpu"] == "1"
        assert st["allocatable"]["cpu"] == "4"
        assert node["metadata"]["labels"]["zone"] == "a"
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
        conds = {c["type"]: c for c in st["conditions"]}
        assert conds["Ready"]["status"] == "True" and conds["Ready"]["reason"] == "KubeletReady"
        assert conds["Ready"]["message"] == "kubelet is posting ready status"
        assert conds["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
        assert conds["DiskPressure"]["status"] == "False" and conds["PIDPressure"]["status"] == "False"
        assert st["nodeInfo"]["kubeletVersion"] == "v1.32.0-tugboat"
        assert st["nodeInfo"]["containerRuntimeVersion"].startswith("simulated://")
        assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
        lease = await until(lambda: _lease(client), what="lease")
        assert lease["spec"]["holderIdentity"] == "n1" and lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
        first = lease["spec"]["renewTime"]
        await advance(clock, 10)
        renewed = await until(lambda: _renewed(client, first), what="lease renewal")
        assert renewed > first


async def _lease(client):
    try:
        return await client.get(LEASE, "n1", LEASE_NAMESPACE)
    except Exception:
        return None


async def _renewed(client, first):
    lease = await _lease(client)
    t = (lease or {}).get("spec", {}).get("renewTime", "")
    return t if t > first else None


async def test_pod_goes_running_with_full_status(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        await client.patch(NODE, "n1", {"spec": {"podCIDR": "10.244.7.0/24"}})
        await until(lambda: _cidr(agent), what="podCIDR seen")
        await client.create(POD, make_pod("web"), "default")

        async def running():
            p = await get_pod(client, "web")
            return p if (p or {}).get("status", {}).get("phase") == "Running" and condition(p, "Ready").get(
                "status") == "True" else None
        pod = await until(running, what="pod Running")
        st = pod["status"]
        assert st["podIP"].startswith("10.244.7.") and st["podIPs"] == [{"ip": st["podIP"]}]
        assert st["qosClass"] == "BestEffort" and st["startTime"]
        types = [c["type"] for c in st["conditions"]]
        for t in ("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"):
            assert t in types, t
        cs = cstatus(pod)
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        assert "running" in cs["state"] and cs["state"]["running"]["startedAt"]
        assert cs["containerID"].startswith("tugboat://") and cs["imageID"].startswith("sha256:")
        assert cs["image"] == "busybox:1.36"


async def _cidr(agent):
    return agent.pod_cidr == "10.244.7.0/24"
