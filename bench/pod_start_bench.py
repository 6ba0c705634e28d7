"""Pod start at the runtime level: our RuncRuntime against a bare `runc run`, same run.

Rows:
- bare `runc run` of busybox `true` (bundle prepared once; create+start+wait+delete) — the
  floor any runc-based runtime pays; median of 20.
- RuncRuntime sandbox (netns + CNI bridge/host-local + /etc files) + container (overlay
  rootfs, bundle, shim, runc create, runc start) until the container is "running":
  median and p99 of 20, plus the sandbox and container parts separately.
Needs root, runc, the CNI plugins and busybox-static; uses a test bridge and a test podCIDR
and removes everything afterwards. The full pod-startup figure (creation → Running through
the API server and the node agent) is the lead's, built on top of this.
Run: .venv/bin/python -m bench.pod_start_bench
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time

from tugboat.node.network import PodNetwork
from tugboat.node.runtime import _cgroups
from tugboat.node.runtime.base import ContainerConfig, SandboxConfig
from tugboat.node.runtime.runc import RuncRuntime
from tugboat.node.runtime.runc_testing import DirImages, busybox_rootfs

N = 20
RUNC = "/usr/sbin/runc"

Row = tuple[str, str, str, str, str]


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def bare_runc(tmp: str, rootfs: str) -> list[float]:
    bundle = os.path.join(tmp, "bundle")
    os.makedirs(bundle)
    subprocess.run([RUNC, "spec", "--bundle", bundle], check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["root"] = {"path": rootfs, "readonly": True}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    root = os.path.join(tmp, "runc-root")
    times = []
    for i in range(N):
        t0 = time.perf_counter()
        subprocess.run([RUNC, "--root", root, "run", "--bundle", bundle, f"tugbench-{i}"], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


async def runtime_starts(tmp: str, rootfs: str) -> tuple[list[float], list[float], list[float]]:
    tag = secrets.token_hex(3)
    net = PodNetwork("10.250.250.0/24", bridge=f"tgb{tag}", conf_dir=os.path.join(tmp, "cni"),
                     network_name=f"tgb{tag}")
    rt = RuncRuntime(DirImages(rootfs, os.path.join(tmp, "layers")), root_dir=os.path.join(tmp, "root"),
                     state_dir=os.path.join(tmp, "state"), network=net, cgroup_root=f"tugbench-{tag}")
    total, sandbox, container = [], [], []
    try:
        await rt.start()
        for i in range(N):
            sb = SandboxConfig(pod_uid=f"bench-{i}", name=f"bench-{i}", namespace="default")
            t0 = time.perf_counter()
            sid = await rt.run_sandbox(sb)
            t1 = time.perf_counter()
            cid = await rt.create_container(sid, ContainerConfig(name="c", image="busybox", command=["sleep", "1000"],
                                                                 log_path=os.path.join(tmp, "logs", f"{i}.log")), sb)
            await rt.start_container(cid)
            st = await rt.container_status(cid)
            t2 = time.perf_counter()
            assert st is not None and st.state == "running", st
            total.append(t2 - t0)
            sandbox.append(t1 - t0)
            container.append(t2 - t1)
            await rt.remove_sandbox(sid)
    finally:
        for s in await rt.list_sandboxes():
            await rt.remove_sandbox(s.id)
        await net.destroy()
        _cgroups.remove_tree(f"/tugbench-{tag}")
    return total, sandbox, container


def run() -> list[Row]:
    if os.geteuid() != 0 or not os.path.exists(RUNC):
        return [("runc pod start", "-", "s", "", "skipped: needs root and runc")]
    tmp = tempfile.mkdtemp(prefix="tugboat-podbench-")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    try:
        rootfs = busybox_rootfs(os.path.join(tmp, "rootfs"))
        bare = statistics.median(bare_runc(tmp, rootfs))
        total, sandbox, container = asyncio.run(runtime_starts(tmp, rootfs))
    finally:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forward)
        shutil.rmtree(tmp, ignore_errors=True)
    ref = f"bare runc run {bare * 1000:.0f} ms"
    return [
        ("bare `runc run` busybox true (median of 20)", f"{bare * 1000:.1f}", "ms", "", "create+start+wait+delete"),
        ("RuncRuntime sandbox+container → running p50", f"{statistics.median(total) * 1000:.1f}", "ms", ref,
         "netns+CNI+shim+runc create/start"),
        ("RuncRuntime sandbox+container → running p99", f"{p99(total) * 1000:.1f}", "ms", ref, f"n={N}"),
        ("  of which sandbox (netns + CNI) p50", f"{statistics.median(sandbox) * 1000:.1f}", "ms", "", ""),
        ("  of which container create+start p50", f"{statistics.median(container) * 1000:.1f}", "ms", ref, ""),
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
