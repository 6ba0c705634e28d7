"""Shared set-up for the runc runtime tests (a module of fixtures, imported by test_runc_*).

Each test gets a fresh runtime over its own directories, a test-only bridge (tgt<random>)
with a test podCIDR in 10.250.100-199.0/24, and a cgroup root unique to the test; teardown
removes every sandbox, the bridge, our iptables chains and the cgroup root, and restores
net.ipv4.ip_forward (the bridge plugin turns it on).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tugboat.node.network import PodNetwork
from tugboat.node.runtime import _cgroups
from tugboat.node.runtime.base import ContainerConfig, ContainerStatus, SandboxConfig
from tugboat.node.runtime.runc import RuncRuntime
from tugboat.node.runtime.runc_hostcheck import leftovers
from tugboat.node.runtime.runc_testing import DirImages, busybox_rootfs

needs_root_runc = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/sbin/runc") or not os.path.exists("/usr/lib/cni/bridge")
    or not os.path.exists("/bin/busybox"),
    reason="needs root, runc, containernetworking-plugins and busybox-static")


@dataclass
class Env:
    rt: RuncRuntime
    net: PodNetwork
    tmp: str
    tag: str
    cgroup_root: str

    def sandbox(self, name: str = "pod", **kw: object) -> SandboxConfig:
        return SandboxConfig(pod_uid=f"uid-{name}-{self.tag}", name=name, namespace="default", **kw)  # type: ignore[arg-type]

    def container(self, name: str, *cmd: str, **kw: object) -> ContainerConfig:
        return ContainerConfig(name=name, image="busybox", command=list(cmd),
                               log_path=os.path.join(self.tmp, "logs", name, "0.log"), **kw)  # type: ignore[arg-type]

    def log(self, name: str) -> list[str]:
        try:
            with open(os.path.join(self.tmp, "logs", name, "0.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    async def run(self, sandbox: SandboxConfig, sid: str, config: ContainerConfig) -> str:
        cid = await self.rt.create_container(sid, config, sandbox)
        await self.rt.start_container(cid)
        return cid

    async def wait_exit(self, cid: str, timeout: float = 15.0) -> ContainerStatus:
        async def exited() -> ContainerStatus | None:
            st = await self.rt.container_status(cid)
            return st if st and st.state == "exited" else None
        return await wait_for(exited, timeout)

    def leftovers(self, sandbox_ids: list[str]) -> list[str]:
        return leftovers(dirs=[self.tmp], sandbox_ids=sandbox_ids, bridge=self.net.bridge, network_name=self.net.network_name,
                         cgroup_root=self.cgroup_root, runc_root=self.rt.runc.root)


async def wait_for(fn: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        res = fn()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return res
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return busybox_rootfs(str(tmp_path_factory.mktemp("busybox-rootfs")))


@pytest.fixture
async def env(busybox_image: str, tmp_path: object) -> AsyncIterator[Env]:
    tag = secrets.token_hex(3)
    tmp = str(tmp_path)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    net = PodNetwork(f"10.250.{random.randint(100, 199)}.0/24", bridge=f"tgt{tag}", conf_dir=os.path.join(tmp, "cni"),
                     network_name=f"tgt{tag}", cluster_cidr="10.250.0.0/16")
    cgroup_root = f"tugtest-{tag}"
    rt = RuncRuntime(DirImages(busybox_image, os.path.join(tmp, "layers")), root_dir=os.path.join(tmp, "root"),
                     state_dir=os.path.join(tmp, "state"), network=net, cgroup_root=cgroup_root, pids_limit=256)
    e = Env(rt, net, tmp, tag, cgroup_root)
    try:
        yield e
    finally:
        for s in await rt.list_sandboxes():
            try:
                await rt.remove_sandbox(s.id)
            except Exception as exc:  # keep cleaning
                print(f"cleanup of sandbox {s.id} failed: {exc}")
        await net.destroy()
        _cgroups.remove_tree("/" + cgroup_root)
        shutil.rmtree(os.path.join(tmp, "state"), ignore_errors=True)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forward)
