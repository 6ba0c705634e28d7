"""Pods as a whole under runc: shared network, pod IP, hostPort, clean removal, adoption."""
# ruff: noqa: F811  (pytest fixtures imported from test_runc_env are redefined as arguments)

from __future__ import annotations

import asyncio
import os
import socket
import urllib.request

from tests.node.runtime.test_runc_env import Env, busybox_image, env, needs_root_runc, wait_for  # noqa: F401
from tugboat.node.runtime.runc import RuncRuntime
from tugboat.node.runtime.runc_testing import DirImages

pytestmark = needs_root_runc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _http_get(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())

    async def attempt() -> str | None:
        try:
            return await asyncio.to_thread(get)
        except OSError:
            return None
    return str(await wait_for(attempt, 10, interval=0.1))


async def test_containers_of_a_pod_share_the_network_and_the_pod_ip_and_host_port_reach_it(env: Env) -> None:
    host_port = _free_port()
    sb = env.sandbox("web", hostname="web-0", port_mappings=[{"containerPort": 8080, "hostPort": host_port,
                                                              "protocol": "TCP"}])
    sid = await env.rt.run_sandbox(sb)
    status = await env.rt.sandbox_status(sid)
    assert status is not None and status.state == "ready"
    assert status.ip.startswith(env.net.pod_cidr.rsplit(".", 2)[0] + ".")
    await env.run(sb, sid, env.container("httpd", "httpd", "-f", "-p", "8080", "-h", "/var/www"))
    client = await env.run(sb, sid, env.container(
        "client", "sh", "-c", "until wget -q -O- http://127.0.0.1:8080/; do sleep 0.1; done; hostname"))
    st = await env.wait_exit(client)
    assert st.exit_code == 0
    out = [line.split(" ", 3)[3] for line in env.log("client")]
    assert out == ["hello from busybox httpd", "web-0"]
    # the pod IP answers from the host (a local bridge address in the test's own netns)
    assert await _http_get(f"http://{status.ip}:8080/") == "hello from busybox httpd\n"
    # hostPort through portmap, from loopback
    assert await _http_get(f"http://127.0.0.1:{host_port}/") == "hello from busybox httpd\n"


async def test_removing_a_pod_leaves_nothing_on_the_host(env: Env) -> None:
    sb = env.sandbox("gone", port_mappings=[{"containerPort": 80, "hostPort": _free_port()}])
    sid = await env.rt.run_sandbox(sb)
    await env.run(sb, sid, env.container("a", "sleep", "1000"))
    await env.run(sb, sid, env.container("b", "sh", "-c", "sleep 1000 & sleep 1000"))
    before = env.leftovers([sid])
    assert any(x.startswith("netns ") for x in before) and any(x.startswith("runc container") for x in before)
    assert any(x.startswith("cgroup ") for x in before) and any(x.startswith("process ") for x in before)
    await env.rt.stop_sandbox(sid)
    assert all(c.state == "exited" for c in await env.rt.list_containers(sid))
    await env.rt.remove_sandbox(sid)
    await env.rt.remove_sandbox(sid)  # idempotent
    assert await env.rt.list_sandboxes() == [] and await env.rt.list_containers() == []
    await env.net.destroy()
    assert env.leftovers([sid]) == []


async def test_a_new_runtime_adopts_running_containers_and_keeps_exit_codes(env: Env) -> None:
    sb = env.sandbox()
    sid = await env.rt.run_sandbox(sb)
    cmd = "echo started; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo finishing; exit 5"
    cid = await env.run(sb, sid, env.container("c", "sh", "-c", cmd))
    await wait_for(lambda: any(line.endswith(" started") for line in env.log("c")))

    rootfs = env.rt.images.rootfs  # type: ignore[attr-defined]

    def fresh() -> RuncRuntime:  # what a restarted agent builds: same directories, new objects
        return RuncRuntime(DirImages(rootfs, os.path.join(env.tmp, "layers")),
                           root_dir=os.path.join(env.tmp, "root"), state_dir=os.path.join(env.tmp, "state"),
                           network=env.net, cgroup_root=env.cgroup_root, pids_limit=256)

    rt2 = env.rt = fresh()  # the first runtime object is no longer used
    await rt2.start()
    [st] = await rt2.list_containers()
    assert (st.id, st.state, st.sandbox_id) == (cid, "running", sid)
    [sst] = await rt2.list_sandboxes()
    assert (sst.id, sst.state) == (sid, "ready")
    assert (await rt2.exec_sync(cid, ["touch", "/tmp/go"], 10)).exit_code == 0
    st = await env.wait_exit(cid)
    assert (st.exit_code, st.reason) == (5, "Error")
    assert env.log("c")[-1].endswith(" finishing")  # the shim kept logging across the "restart"
    rt3 = fresh()
    await rt3.start()
    st3 = await rt3.container_status(cid)
    assert st3 is not None and (st3.state, st3.exit_code, st3.finished_at) == ("exited", 5, st.finished_at)


async def test_host_network_pod_uses_the_host_netns(env: Env) -> None:
    sb = env.sandbox("hostnet", host_network=True)
    sid = await env.rt.run_sandbox(sb)
    cid = await env.run(sb, sid, env.container("c", "sh", "-c", "readlink /proc/1/ns/net; hostname"))
    st = await env.wait_exit(cid)
    assert st.exit_code == 0
    out = [line.split(" ", 3)[3] for line in env.log("c")]
    assert out == [os.readlink("/proc/self/ns/net"), os.uname().nodename]
    assert (await env.rt.sandbox_status(sid)).ip == ""  # type: ignore[union-attr]
