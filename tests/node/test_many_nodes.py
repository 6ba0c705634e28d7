"""200 simulated nodes in one process: one client, one pod + one node informer, leases renewed."""

from __future__ import annotations

import asyncio

from tests.node.helpers import advance, get_pod, make_pod, until
from tests.support.apiserver import running_apiserver
from tugboat.client.clock import FakeClock
from tugboat.node.agent import NodeAgent
from tugboat.node.lease import LEASE, LEASE_NAMESPACE
from tugboat.node.nodestatus import NODE
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.sources import POD, AgentSources

N = 200


async def test_200_simulated_nodes_register_renew_and_run_pods(tmp_path):
    clock = FakeClock()
    async with running_apiserver(qps=5000.0, burst=10000) as (_srv, client):
        sources = AgentSources(client)
        sources.start()
        await sources.wait_for_sync()
        agents = [NodeAgent(client, SimulatedRuntime(clock, node_name=f"sim-{i}", fallback_cidr=f"10.200.{i}.0/24"),
                            node_name=f"sim-{i}", data_dir=str(tmp_path / f"sim-{i}"), clock=clock, sources=sources,
                            capacity={"cpu": "8", "memory": "32Gi", "pods": "110"}, lease_jitter=True)
                  for i in range(N)]
        try:
            await asyncio.gather(*(a.start() for a in agents))
            nodes = (await client.list(NODE))["items"]
            assert len(nodes) == N
            assert all(n["status"]["allocatable"]["pods"] == "110" for n in nodes)
            await advance(clock, 10, step=0.5)  # jittered first renewals fall within one interval
            await until(lambda: _all_renewed(agents, 1), what="every node renewed once")
            leases = (await client.list(LEASE, LEASE_NAMESPACE))["items"]
            assert len(leases) == N
            times = sorted({le["spec"]["renewTime"] for le in leases})
            assert len(times) > 10  # spread over the interval, not one burst
            await advance(clock, 10, step=0.5)
            await until(lambda: _all_renewed(agents, 2), what="every node renewed twice")
            await client.create(POD, make_pod("p150", node="sim-150"), "default")

            async def running():
                p = await get_pod(client, "p150")
                return p if (p or {}).get("status", {}).get("phase") == "Running" else None
            p = await until(running, what="pod on sim-150 Running")
            assert p["status"]["podIP"].startswith("10.200.150.")
            assert len(agents[150].workers) + len(agents[150].records) >= 1
            assert all(not a.records for i, a in enumerate(agents) if i != 150)
        finally:
            await asyncio.gather(*(a.stop() for a in agents))
            await sources.stop()


async def _all_renewed(agents, n):
    return all(a.lease.renewals >= n for a in agents)
