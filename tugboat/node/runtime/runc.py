"""The real container runtime: pods as namespace sandboxes, containers under runc.

    images = <an ImageService>            # tugboat/node/images
    net = PodNetwork(node_pod_cidr, conf_dir=f"{data_dir}/cni", cluster_cidr=...)
    rt = RuncRuntime(images, root_dir=f"{data_dir}/runtime", network=net)
    await rt.start()                      # runc version guard + adoption of what is running

Directories: `root_dir` (persistent: sandbox/container records, bundles, exit codes, pod
/etc files), `state_dir` (tmpfs: runc's own --root and the IPC/UTS namespace files — both
meaningless after a reboot). cgroups: each container at /<cgroup_root>/pod<uid>/<container
id> (absolute, so containers are not nested under the agent's own cgroup). The container id
is in the path, not the name, so an exited container and its restart never share a cgroup.
See runc_sandbox.py (sandboxes), runc_containers.py (containers), runc_shim.py (stdio/exit).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import asdict

from tugboat.node.images.base import ImageService
from tugboat.node.network.pod_network import PodNetwork
from tugboat.node.runtime import _cgroups, runc_sandbox, runc_version
from tugboat.node.runtime.base import ExecStream, SandboxConfig, SandboxStatus
from tugboat.node.runtime.runc_cmd import Runc
from tugboat.node.runtime.runc_containers import (
    ContainerCreateError,
    ContainerOps,
    default_python,
    default_shim,
)
from tugboat.node.runtime.runc_state import SandboxRecord, StateStore

__all__ = ["ContainerCreateError", "RuncRuntime"]


class RuncRuntime(ContainerOps):
    name = "runc"

    def __init__(self, images: ImageService, *, root_dir: str, state_dir: str = "/run/tugboat/runc",
                 network: PodNetwork | None = None, cgroup_root: str = "tugboat", runc: str = "/usr/sbin/runc",
                 pids_limit: int | None = None, python: str | None = None, shim: str | None = None):
        self.images = images
        self.root_dir = root_dir
        self.state_dir = state_dir
        self.network = network
        self.cgroup_root = cgroup_root.strip("/")
        self.pids_limit = pids_limit
        self.python = python or default_python()
        self.shim = default_shim() if shim is None else shim
        os.makedirs(state_dir, exist_ok=True)
        self.runc = Runc(runc, os.path.join(state_dir, "runc"))
        self.store = StateStore(root_dir)
        self.runc_version: runc_version.RuncVersion | None = None
        self._started: asyncio.Future[None] | None = None

    # ---- lifecycle ----
    async def start(self) -> None:
        """Check runc (refuses a runc open to CVE-2024-21626), then adopt: delete runc
        containers we hold no record of (a crash mid-create), mark sandboxes whose
        namespaces vanished (reboot) not ready. Idempotent; every call below awaits it."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                self.runc_version = runc_version.check(await self.runc.version())
                os.makedirs(self.runc.root, exist_ok=True)
                for c in await self.runc.list():
                    if c.get("id") not in self.store.containers:
                        await self.runc.delete(c["id"])
                for sb in self.store.sandboxes.values():
                    if sb.state == "ready" and sb.netns and not os.path.exists(sb.netns):
                        sb.state = "notready"
                        self.store.save_sandbox(sb)
                self._started.set_result(None)
            except BaseException as e:
                self._started.set_exception(e)
                self._started = None
                raise
        await self._started

    async def version(self) -> str:
        await self.start()
        assert self.runc_version is not None
        return self.runc_version.version

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> ExecStream:
        """`runc exec` with streamed stdio or a terminal (runtime.exec_process)."""
        from tugboat.node.runtime.exec_process import start_runc_exec

        return await start_runc_exec(self, container_id, cmd, tty=tty, stdin=stdin, size=size)

    # ---- sandboxes ----
    async def run_sandbox(self, config: SandboxConfig) -> str:
        await self.start()
        spec = config.pod.get("spec") or {}
        sid = secrets.token_hex(32)
        sdir = self.store.sandbox_dir(sid)
        os.makedirs(sdir)
        host_ipc, host_pid = bool(spec.get("hostIPC")), bool(spec.get("hostPID"))
        ns_dir = os.path.join(self.state_dir, "ns", sid)
        rec = SandboxRecord(
            id=sid, pod_uid=config.pod_uid, name=config.name, namespace=config.namespace, attempt=config.attempt,
            hostname=config.hostname or config.name, host_network=config.host_network, host_ipc=host_ipc,
            host_pid=host_pid, netns="" if config.host_network else os.path.join(runc_sandbox.NETNS_DIR, f"tug-{sid}"),
            ipc_ns="" if host_ipc else os.path.join(ns_dir, "ipc"),
            uts_ns="" if config.host_network else os.path.join(ns_dir, "uts"),
            created_at=time.time(), cgroup_parent=config.cgroup_parent, labels=dict(config.labels),
            annotations=dict(config.annotations), port_mappings=list(config.port_mappings))
        self.store.save_sandbox(rec)
        try:
            if not config.host_network and self.network is None:
                raise runc_sandbox.SandboxError("no pod network configured (only hostNetwork pods can run)")
            await runc_sandbox.create_namespaces(rec.netns, rec.ipc_ns, rec.uts_ns, rec.hostname)
            runc_sandbox.mount_shm(sdir, host_ipc)
            if self.network is not None and not config.host_network:
                net = await self.network.setup(sid, rec.netns, port_mappings=config.port_mappings,
                                               namespace=config.namespace, name=config.name)
                rec.ip = net.ip
            runc_sandbox.write_files(sdir, config, rec.ip)
            self.store.save_sandbox(rec)
        except BaseException:
            await self.remove_sandbox(sid)
            raise
        return sid

    async def stop_sandbox(self, sandbox_id: str) -> None:
        """Kill its containers, tear down the network, release the namespaces (idempotent)."""
        await self.start()
        rec = self.store.sandboxes.get(sandbox_id)
        if rec is None:
            return
        await asyncio.gather(*(self.stop_container(c.id, 0) for c in list(self.store.containers.values())
                               if c.sandbox_id == sandbox_id))
        if self.network is not None and not rec.host_network:
            await self.network.teardown(sandbox_id, rec.netns, port_mappings=rec.port_mappings)
        runc_sandbox.remove_namespaces(rec.netns, rec.ipc_ns, rec.uts_ns)
        ns_dir = os.path.join(self.state_dir, "ns", sandbox_id)
        if os.path.isdir(ns_dir):
            os.rmdir(ns_dir)
        if rec.state != "notready":
            rec.state = "notready"
            self.store.save_sandbox(rec)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.start()
        rec = self.store.sandboxes.get(sandbox_id)
        if rec is None:
            return
        for c in [c for c in list(self.store.containers.values()) if c.sandbox_id == sandbox_id]:
            await self.remove_container(c.id)
        await self.stop_sandbox(sandbox_id)
        runc_sandbox.remove_dir(self.store.sandbox_dir(sandbox_id))
        self.store.forget_sandbox(sandbox_id)
        if not rec.cgroup_parent and not any(s.pod_uid == rec.pod_uid for s in self.store.sandboxes.values()):
            _cgroups.remove_tree(f"/{self.cgroup_root}/pod{rec.pod_uid}")

    def _sandbox_status(self, rec: SandboxRecord) -> SandboxStatus:
        return SandboxStatus(id=rec.id, pod_uid=rec.pod_uid, state=rec.state, ip=rec.ip,
                             created_at=rec.created_at, labels=dict(rec.labels))

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus | None:
        rec = self.store.sandboxes.get(sandbox_id)
        return self._sandbox_status(rec) if rec else None

    async def list_sandboxes(self) -> list[SandboxStatus]:
        return [self._sandbox_status(r) for r in list(self.store.sandboxes.values())]

    def sandbox_record(self, sandbox_id: str) -> dict[str, object] | None:
        """Everything known about a sandbox (netns path, namespaces …) for debugging/stats."""
        rec = self.store.sandboxes.get(sandbox_id)
        return asdict(rec) if rec else None

    # ---- images ----
    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        return (await self.images.pull(image, auth=auth)).id

    async def image_present(self, image: str) -> str | None:
        cfg = await self.images.status(image)
        return cfg.id if cfg else None
