"""Restart policy and crash-loop back-off (first restart immediate, then 10 s, 20 s, 40 s)."""

from __future__ import annotations

from tests.node.helpers import advance, condition, cstatus, get_pod, make_pod, settle, sim_agent, until
from tugboat.node.keys import POD_UID
from tugboat.node.sources import POD

SIM = "sim.tugboat.dev/"


async def _attempts(agent, uid):
    cs = [c for c in await agent.runtime.list_containers() if c.labels.get(POD_UID) == uid]
    return sorted(cs, key=lambda c: c.attempt)


async def test_crashing_container_backs_off_0_10_20_40_and_shows_crashloop(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        pod = await client.create(POD, make_pod("crash", annotations={SIM + "exit-after": "0s",
                                                                      SIM + "exit-code": "1"}), "default")
        uid = pod["metadata"]["uid"]

        async def crashloop():
            p = await get_pod(client, "crash")
            w = cstatus(p).get("state", {}).get("waiting", {})
            return p if w.get("reason") == "CrashLoopBackOff" else None
        p = await until(crashloop, what="CrashLoopBackOff")
        cs = cstatus(p)
        assert cs["restartCount"] == 1
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        assert cs["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=crash_default(")
        assert p["status"]["phase"] == "Running"
        assert condition(p, "Ready")["status"] == "False"
        t0 = clock.time()
        starts = [c.created_at - t0 for c in await _attempts(agent, uid)]
        assert starts == [0, 0]  # the first restart is immediate
        for expected_gap, count in ((10, 3), (20, 4), (40, 5)):
            await advance(clock, expected_gap - 1, agents=[agent])
            await settle()
            assert (await _attempts(agent, uid))[-1].attempt == count - 2, f"restarted before {expected_gap}s"
            await advance(clock, 1, agents=[agent])
            await until(lambda c=count: _has_attempts(agent, uid, c), what=f"restart #{count - 1}")
        cs = await _attempts(agent, uid)
        assert [(c.attempt, round(c.created_at - t0)) for c in cs] == [(3, 30), (4, 70)]  # 10, 20, 40 s gaps
        assert len(cs) == 2  # older dead containers are garbage-collected (latest + previous kept)
        p = await until(lambda: _restart_count(client, "crash", 4), what="restartCount 4")
        assert cstatus(p)["restartCount"] == 4


async def _has_attempts(agent, uid, n):
    return max((c.attempt for c in await _attempts(agent, uid)), default=-1) >= n - 1


async def _restart_count(client, name, n):
    p = await get_pod(client, name)
    return p if cstatus(p).get("restartCount") == n else None


async def _phase(client, name, phase):
    p = await get_pod(client, name)
    return p if (p or {}).get("status", {}).get("phase") == phase else None


async def test_restart_never_fails_and_exit_zero_succeeds(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        await client.create(POD, make_pod("bad", restartPolicy="Never",
                                          annotations={SIM + "exit-after": "5s", SIM + "exit-code": "3"}), "default")
        await client.create(POD, make_pod("good", restartPolicy="OnFailure",
                                          annotations={SIM + "exit-after": "5s"}), "default")
        await until(lambda: _phase(client, "bad", "Running"), what="bad Running")
        await until(lambda: _phase(client, "good", "Running"), what="good Running")
        await advance(clock, 5, agents=[agent])
        bad = await until(lambda: _phase(client, "bad", "Failed"), what="Never → Failed")
        t = cstatus(bad)["state"]["terminated"]
        assert t["exitCode"] == 3 and t["reason"] == "Error" and cstatus(bad)["restartCount"] == 0
        good = await until(lambda: _phase(client, "good", "Succeeded"), what="exit 0 → Succeeded")
        assert cstatus(good)["state"]["terminated"]["reason"] == "Completed"
        assert condition(good, "Ready")["reason"] == "PodCompleted"
        assert condition(good, "PodReadyToStartContainers")["status"] == "False"
        await advance(clock, 60, agents=[agent])
        await settle()
        assert len([c for c in await agent.runtime.list_containers() if c.state == "running"]) == 0
