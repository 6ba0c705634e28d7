"""The runc runtime against real runc, real CNI plugins and real cgroups (as root)."""
# ruff: noqa: F811  (pytest fixtures imported from test_runc_env are redefined as arguments)

from __future__ import annotations

import os
import re
import time

import pytest

from tests.node.runtime.test_runc_env import Env, busybox_image, env, needs_root_runc  # noqa: F401
from tugboat.node.runtime import _cgroups
from tugboat.node.runtime._oci import SpecError
from tugboat.node.runtime.runc import ContainerCreateError

pytestmark = needs_root_runc
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) [FP] (.*)$")


async def test_echo_hello_writes_cri_log_and_exit_code(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("hello", "sh", "-c", "echo hello; echo oops >&2"))
    st = await env.wait_exit(cid)
    assert (st.state, st.exit_code, st.reason) == ("exited", 0, "Completed")
    assert st.finished_at >= st.started_at > 0
    lines = env.log("hello")
    records = sorted(CRI_LINE.match(line).group(2, 3) for line in lines)  # type: ignore[union-attr]
    assert records == [("stderr", "oops"), ("stdout", "hello")]  # the two streams interleave freely


async def test_nonzero_exit_code_is_reported_as_error(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    st = await env.wait_exit(await env.run(sb, sid, env.container("c", "sh", "-c", "exit 3")))
    assert (st.exit_code, st.reason) == (3, "Error")


async def test_sigterm_stops_a_cooperative_container_within_the_grace_period(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cmd = "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.05; done"
    cid = await env.run(sb, sid, env.container("c", "sh", "-c", cmd))
    await _wait_log(env, "c", "up")
    t0 = time.monotonic()
    await env.rt.stop_container(cid, 20)
    took = time.monotonic() - t0
    st = await env.rt.container_status(cid)
    assert st is not None and (st.state, st.exit_code) == ("exited", 0)
    assert took < 5, took
    assert any(line.endswith(" bye") for line in env.log("c"))


async def test_a_program_ignoring_sigterm_is_killed_after_the_timeout(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sh", "-c", "trap '' TERM; echo up; while true; do sleep 1; done"))
    await _wait_log(env, "c", "up")
    t0 = time.monotonic()
    await env.rt.stop_container(cid, 1.0)
    took = time.monotonic() - t0
    st = await env.rt.container_status(cid)
    assert st is not None and (st.state, st.exit_code, st.reason) == ("exited", 137, "Error")
    assert 1.0 <= took < 6, took


async def test_exec_sync_returns_output_exit_code_and_times_out(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sleep", "1000", env={"GREETING": "hi"}))
    res = await env.rt.exec_sync(cid, ["sh", "-c", "echo $GREETING; echo err >&2; exit 7"], 10)
    assert (res.exit_code, res.stdout, res.stderr) == (7, b"hi\n", b"err\n")
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        await env.rt.exec_sync(cid, ["sleep", "30"], 0.5)
    assert time.monotonic() - t0 < 5
    ps = await env.rt.exec_sync(cid, ["ps", "-o", "args"], 10)
    assert b"sleep 30" not in ps.stdout  # the timed-out process was killed


async def test_memory_hog_is_oom_killed(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    hog = env.container("hog", "awk", "BEGIN { s = \"xxxxxxxxxxxxxxxx\"; while (1) s = s s }",
                        memory_limit_bytes=32 << 20)
    st = await env.wait_exit(await env.run(sb, sid, hog), timeout=30)
    assert (st.exit_code, st.reason) == (137, "OOMKilled")


async def test_cpu_memory_pids_limits_land_in_the_container_cgroup(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sleep", "1000", cpu_request_milli=250, cpu_limit_milli=500,
                                               memory_limit_bytes=64 << 20))
    path = env.rt.container_cgroup(cid)
    assert path == f"/{env.cgroup_root}/pod{sb.pod_uid}/{cid}"
    if _cgroups.is_v2():
        assert _cgroups.read(path, "cpu", "cpu.max") == "50000 100000"
        assert _cgroups.read(path, "memory", "memory.max") == str(64 << 20)
        assert _cgroups.read(path, "pids", "pids.max") == "256"
    else:
        assert _cgroups.read(path, "cpu", "cpu.shares") == "256"
        assert _cgroups.read(path, "cpu", "cpu.cfs_quota_us") == "50000"
        assert _cgroups.read(path, "cpu", "cpu.cfs_period_us") == "100000"
        assert _cgroups.read(path, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert _cgroups.read(path, "pids", "pids.max") == "256"
    init_pid = env.rt.store.containers[cid].init_pid
    with open(f"/proc/{init_pid}/cgroup") as f:
        assert f"/{env.cgroup_root}/pod{sb.pod_uid}/{cid}" in f.read()


async def test_security_context_user_no_new_privs_caps_and_seccomp(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    sc = {"runAsUser": 1000, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
          "seccompProfile": {"type": "RuntimeDefault"}}
    cmd = "id -u; id -G; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status"
    st = await env.wait_exit(await env.run(sb, sid, env.container("c", "sh", "-c", cmd, security_context=sc)))
    out = [m.group(3) for m in map(CRI_LINE.match, env.log("c")) if m and m.group(2) == "stdout"]
    assert out[0] == "1000" and "2000" in out[1].split()  # supplementary group from the image's /etc/group
    status = dict(line.split(":\t") for line in out[2:5])
    assert status == {"NoNewPrivs": "1", "Seccomp": "2", "CapEff": "0000000000000000"}
    assert st.exit_code == 0


async def test_run_as_non_root_refuses_root(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    with pytest.raises(SpecError, match="runAsNonRoot and image will run as root"):
        await env.rt.create_container(sid, env.container("c", "true", security_context={"runAsNonRoot": True}), sb)
    assert await env.rt.list_containers() == []


async def test_working_dir_under_proc_self_fd_is_refused(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    with pytest.raises(SpecError, match="not allowed"):
        await env.rt.create_container(sid, env.container("c", "true", working_dir="/proc/self/fd/7"), sb)
    assert await env.rt.list_containers() == []


async def test_unknown_command_fails_create_with_runc_message_and_leaves_nothing(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    with pytest.raises(ContainerCreateError, match="no-such-binary"):
        await env.rt.create_container(sid, env.container("c", "no-such-binary"), sb)
    assert await env.rt.list_containers() == []
    assert os.listdir(os.path.join(env.tmp, "root", "containers")) == []
    assert os.listdir(os.path.join(env.tmp, "layers")) == []


async def _wait_log(env: Env, name: str, text: str) -> None:
    from tests.node.runtime.test_runc_env import wait_for
    await wait_for(lambda: any(line.endswith(" " + text) for line in env.log(name)), 10)
