"""Init containers, readiness/liveness from annotations, graceful deletion, agent restart adoption."""

from __future__ import annotations

from tests.node.helpers import advance, condition, cstatus, get_pod, make_pod, settle, sim_agent, until
from tests.support.apiserver import running_apiserver
from tugboat.client.clock import FakeClock
from tugboat.node.agent import NodeAgent
from tugboat.node.keys import POD_UID
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.sources import POD

SIM = "sim.tugboat.dev/"


async def _phase(client, name, phase):
    p = await get_pod(client, name)
    return p if (p or {}).get("status", {}).get("phase") == phase else None


async def _names_running(agent, uid):
    return {c.name for c in await agent.runtime.list_containers()
            if c.labels.get(POD_UID) == uid and c.state == "running"}


async def test_init_containers_run_in_order_and_gate_app_containers(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        pod = make_pod("init", annotations={SIM + "exit-after.i1": "5s"},
                       initContainers=[{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}])
        uid = (await client.create(POD, pod, "default"))["metadata"]["uid"]

        async def initializing():
            p = await get_pod(client, "init")
            return p if "running" in cstatus(p, "i1", init=True).get("state", {}) else None
        p = await until(initializing, what="i1 running")
        assert p["status"]["phase"] == "Pending"
        assert cstatus(p)["state"]["waiting"]["reason"] == "PodInitializing"
        init_cond = condition(p, "Initialized")
        assert init_cond["status"] == "False" and init_cond["reason"] == "ContainersNotInitialized"
        assert init_cond["message"] == "containers with incomplete status: [i1 i2]"
        assert await _names_running(agent, uid) == {"i1"}
        await advance(clock, 5, agents=[agent])
        p = await until(lambda: _phase(client, "init", "Running"), what="app running after init")
        for n in ("i1", "i2"):
            s = cstatus(p, n, init=True)
            assert s["state"]["terminated"]["reason"] == "Completed" and s["ready"] is True
        assert condition(p, "Initialized")["status"] == "True"
        assert await _names_running(agent, uid) == {"app"}


async def test_failing_init_container_with_restart_never_fails_the_pod(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        pod = make_pod("initfail", restartPolicy="Never",
                       annotations={SIM + "exit-after.i1": "1s", SIM + "exit-code.i1": "2"},
                       initContainers=[{"name": "i1", "image": "busybox"}])
        uid = (await client.create(POD, pod, "default"))["metadata"]["uid"]
        await until(lambda: _names_running(agent, uid), what="i1 running")
        await advance(clock, 1, agents=[agent])
        p = await until(lambda: _phase(client, "initfail", "Failed"), what="Failed")
        assert cstatus(p, "i1", init=True)["state"]["terminated"]["exitCode"] == 2
        assert all(c.name != "app" for c in await agent.runtime.list_containers() if c.labels.get(POD_UID) == uid)


async def test_readiness_and_liveness_from_annotations(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        await client.create(POD, make_pod("never", annotations={SIM + "never-ready": "true"}), "default")
        await client.create(POD, make_pod("later", annotations={SIM + "ready-after": "20s"}), "default")
        probe = {"exec": {"command": ["true"]}, "periodSeconds": 10, "failureThreshold": 3}
        await client.create(POD, make_pod("sick", annotations={SIM + "liveness-fail-after": "30s"},
                                          containers=[{"name": "app", "image": "busybox", "livenessProbe": probe}]),
                            "default")
        for n in ("never", "later", "sick"):
            await until(lambda n=n: _phase(client, n, "Running"), what=f"{n} Running")
        await advance(clock, 21, agents=[agent])

        async def later_ready():
            p = await get_pod(client, "later")
            return p if condition(p, "Ready").get("status") == "True" else None
        await until(later_ready, what="ready after 20s")
        never = await get_pod(client, "never")
        assert condition(never, "Ready")["status"] == "False"
        assert condition(never, "ContainersReady")["message"] == "containers with unready status: [app]"
        assert cstatus(never)["ready"] is False and cstatus(never)["started"] is True
        await advance(clock, 40, agents=[agent])

        async def restarted():
            p = await get_pod(client, "sick")
            return p if cstatus(p).get("restartCount", 0) >= 1 else None
        p = await until(restarted, what="liveness restart")
        assert cstatus(p)["lastState"]["terminated"]["exitCode"] == 143
        await agent.recorder.flush()
        evs = (await client.list(_event_rt(), "default"))["items"]
        msgs = {(e["reason"], e["message"]) for e in evs if e["involvedObject"]["name"] == "sick"}
        assert ("Killing", "Container app failed liveness probe, will be restarted") in msgs
        assert ("Unhealthy", "Liveness probe failed: simulated: liveness failure") in msgs
        assert any(e["reason"] == "Unhealthy" and e["message"].startswith("Readiness probe failed")
                   for e in evs if e["involvedObject"]["name"] == "never")


def _event_rt():
    from tugboat.client.events import EVENT
    return EVENT


async def test_deletion_stops_gracefully_then_deletes_pod_object(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        pod = make_pod("slow", annotations={SIM + "ignore-sigterm": "true"}, terminationGracePeriodSeconds=30,
                       containers=[{"name": "app", "image": "busybox",
                                    "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}}}}])
        uid = (await client.create(POD, pod, "default"))["metadata"]["uid"]
        await until(lambda: _phase(client, "slow", "Running"), what="Running")
        await client.delete(POD, "slow", "default")
        await settle()
        await advance(clock, 20)  # the worker is busy waiting out the grace period
        p = await get_pod(client, "slow")
        assert p is not None and p["metadata"].get("deletionTimestamp")  # still within its grace period
        assert await _names_running(agent, uid) == {"app"}
        await advance(clock, 11)  # the worker is busy waiting out the grace period
        await until(lambda: _gone(client, "slow"), what="pod object deleted by the agent")
        assert [c for c in await agent.runtime.list_containers() if c.labels.get(POD_UID) == uid] == []
        assert [s for s in await agent.runtime.list_sandboxes() if s.pod_uid == uid] == []
        await agent.recorder.flush()
        evs = (await client.list(_event_rt(), "default"))["items"]
        assert any(e["reason"] == "Killing" and e["message"] == "Stopping container app" for e in evs)


async def _gone(client, name):
    return await get_pod(client, name) is None


async def test_agent_restart_adopts_running_containers(tmp_path):
    clock = FakeClock()
    async with running_apiserver(qps=1000.0, burst=2000) as (_srv, client):
        rt = SimulatedRuntime(clock, node_name="n1")
        agent = NodeAgent(client, rt, node_name="n1", data_dir=str(tmp_path), clock=clock)
        await agent.start()
        try:
            await client.create(POD, make_pod("keep"), "default")
            await client.create(POD, make_pod("crashy", annotations={SIM + "exit-after": "0s",
                                                                     SIM + "exit-code": "1"}), "default")
            await until(lambda: _phase(client, "keep", "Running"), what="Running")

            async def crashed():
                p = await get_pod(client, "crashy")
                return p if cstatus(p).get("restartCount") == 1 else None
            await until(crashed, what="crashy restarted once")
        finally:
            await agent.stop()
        pod_before = await get_pod(client, "keep")
        keep_uid = pod_before["metadata"]["uid"]
        kept = {c.id: (c.attempt, c.state) for c in await rt.list_containers() if c.labels.get(POD_UID) == keep_uid}
        agent2 = NodeAgent(client, rt, node_name="n1", data_dir=str(tmp_path), clock=clock)
        await agent2.start()
        try:
            await until(lambda: _synced(agent2, 2), what="pods synced by the new agent")
            await settle()
            after = {c.id: (c.attempt, c.state) for c in await rt.list_containers()
                     if c.labels.get(POD_UID) == keep_uid}
            assert kept and all(v == (0, "running") for v in kept.values())
            assert after == kept  # no restart, no new container id
            pod = await get_pod(client, "keep")
            assert cstatus(pod)["containerID"] == cstatus(pod_before)["containerID"]
            assert cstatus(pod)["restartCount"] == 0
            crashy = await get_pod(client, "crashy")
            assert cstatus(crashy)["restartCount"] >= 1  # counted from the runtime, not reset
        finally:
            await agent2.stop()


async def _synced(agent, n):
    return sum(1 for w in agent.records.values() if w.last_status) >= n and all(
        (w.syncs if (w := agent.workers.get(u)) else 1) >= 1 for u in agent.records)
