"""The simulated runtime: annotation-driven exits, start failures, pull errors, IPs from the CIDR."""

from __future__ import annotations

import asyncio

import pytest

from tugboat.client.clock import FakeClock
from tugboat.node.runtime.base import ContainerConfig, SandboxConfig, SupportsEvents, SupportsRuntimeConfig
from tugboat.node.runtime.simulated import SimPullError, SimulatedRuntime, StartError, parse_duration


def _sandbox(anns: dict[str, str]) -> SandboxConfig:
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "default", "annotations": anns}}
    return SandboxConfig(pod_uid="u1", name="p", namespace="default", pod=pod)


def test_parse_duration():
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5 and parse_duration("7") == 7
    assert parse_duration("never") is None and parse_duration("5x") is None


async def test_exit_after_reports_exit_and_notifies():
    clock = FakeClock()
    rt = SimulatedRuntime(clock)
    assert isinstance(rt, SupportsEvents) and isinstance(rt, SupportsRuntimeConfig)
    seen: list[str] = []
    rt.subscribe(seen.append)
    rt.update_runtime_config("10.9.8.0/24")
    sb_cfg = _sandbox({"sim.tugboat.dev/exit-after": "5s", "sim.tugboat.dev/exit-code": "4"})
    sid = await rt.run_sandbox(sb_cfg)
    assert (await rt.sandbox_status(sid)).ip == "10.9.8.2"
    cid = await rt.create_container(sid, ContainerConfig(name="app", image="img"), sb_cfg)
    await rt.start_container(cid)
    assert (await rt.container_status(cid)).state == "running"
    await asyncio.sleep(0)  # let the exit timer park on the fake clock
    clock.advance(4)
    await asyncio.sleep(0)
    assert (await rt.container_status(cid)).state == "running"
    clock.advance(1)
    await asyncio.sleep(0)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == ("exited", 4, "Error") and seen == ["u1"]
    await rt.remove_sandbox(sid)
    assert await rt.list_containers() == [] and await rt.list_sandboxes() == []


async def test_fail_start_and_pull_error_and_sigterm_handling():
    clock = FakeClock()
    rt = SimulatedRuntime(clock)
    cfg = _sandbox({"sim.tugboat.dev/fail-start": "no such binary"})
    sid = await rt.run_sandbox(cfg)
    cid = await rt.create_container(sid, ContainerConfig(name="app", image="img"), cfg)
    with pytest.raises(StartError):
        await rt.start_container(cid)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason, st.message) == ("exited", 128, "StartError", "no such binary")
    with pytest.raises(SimPullError):
        await rt.pull_image_for_pod("img", {"metadata": {"annotations": {"sim.tugboat.dev/pull-error": "denied"}}})
    assert await rt.image_present("img") is None
    stubborn = _sandbox({"sim.tugboat.dev/ignore-sigterm": "true"})
    sid2 = await rt.run_sandbox(stubborn)
    c2 = await rt.create_container(sid2, ContainerConfig(name="app", image="img"), stubborn)
    await rt.start_container(c2)
    stop = asyncio.ensure_future(rt.stop_container(c2, 30))
    await asyncio.sleep(0)
    clock.advance(29)
    await asyncio.sleep(0)
    assert not stop.done()
    clock.advance(1)
    await stop
    assert (await rt.container_status(c2)).exit_code == 137
