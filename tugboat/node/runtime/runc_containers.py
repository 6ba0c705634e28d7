"""Container lifecycle under runc: bundle → shim → `runc create`/`start`/`kill`/`delete`.

State is derived, not remembered: a container is *exited* once its shim wrote exit.json,
*running* while its init pid (checked with its start time) lives, *created* before
`runc start`. All of it is on disk, so a new runtime object over the same directories —
an agent restart — sees the same containers in the same states and keeps their exit
codes. Exit reasons are containerd's: OOMKilled (the container's memory cgroup counted an
OOM kill), Completed (0), Error (anything else).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import time

import orjson

from tugboat.node.images.base import ImageService
from tugboat.node.runtime import _cgroups, _oci, _oci_user, runc_mounts, runc_shim
from tugboat.node.runtime.base import ContainerConfig, ContainerStatus, ExecResult, SandboxConfig
from tugboat.node.runtime.runc_cmd import Runc, wait_pid_exit
from tugboat.node.runtime.runc_state import ContainerRecord, SandboxRecord, StateStore
from tugboat.node.runtime.shim_attach import ShimAttach

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runc_shim.py")
SHIM_ENV = "TUGBOAT_SHIM"  # path of the C shim, or "python" for the Python one
KILL_WAIT = 10.0  # seconds to wait for a SIGKILLed container to be reaped


class ContainerCreateError(RuntimeError):
    """runc could not create the container (bad command, bad mount …): message is runc's."""


class ContainerOps:
    images: ImageService
    store: StateStore
    runc: Runc
    cgroup_root: str
    pids_limit: int | None
    python: str
    shim: str  # the C shim binary; "" = the Python shim

    # ---- create / start ----
    def _cgroups_path(self, sb: SandboxRecord, cid: str) -> str:
        parent = sb.cgroup_parent or f"/{self.cgroup_root}/pod{sb.pod_uid}"
        return "/" + parent.strip("/") + "/" + cid

    def _paths(self, sb: SandboxRecord) -> _oci.SandboxPaths:
        d = self.store.sandbox_dir(sb.id)
        return _oci.SandboxPaths(netns=sb.netns, ipc=sb.ipc_ns, uts=sb.uts_ns, hosts=os.path.join(d, "hosts"),
                                 resolv=os.path.join(d, "resolv.conf"), hostname=os.path.join(d, "hostname"),
                                 shm=os.path.join(d, "shm"), host_pid=sb.host_pid)

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str:
        sb = self.store.sandboxes.get(sandbox_id)
        if sb is None or sb.state != "ready":
            raise ContainerCreateError(f"sandbox {sandbox_id} is not ready")
        _oci.check_working_dir(config.working_dir or "/")
        image = await self.images.status(config.image)
        if image is None:
            raise ContainerCreateError(f"image {config.image!r} is not present")
        cid = secrets.token_hex(32)
        cdir = self.store.container_dir(cid)
        os.makedirs(cdir)
        rec = ContainerRecord(id=cid, sandbox_id=sandbox_id, name=config.name, attempt=config.attempt,
                              image=image.ref or config.image, image_id=image.repo_digest or image.id,
                              created_at=time.time(),
                              log_path=config.log_path, cgroups_path=self._cgroups_path(sb, cid),
                              labels=dict(config.labels), annotations=dict(config.annotations))
        self.store.save_container(rec)
        try:
            rootfs = await self.images.mount_rootfs(image, cid)
            pod_sc = ((sandbox.pod.get("spec") or {}).get("securityContext")) or {}
            user = _oci_user.resolve(rootfs, image.user, config.security_context, pod_sc, config.name, sandbox.name)
            spec = _oci.build_spec(config=config, sandbox=sandbox, image=image, rootfs=rootfs, paths=self._paths(sb),
                                   user=user, cgroups_path=rec.cgroups_path, pids_limit=self.pids_limit,
                                   memsw=_cgroups.memsw_available())
            with open(os.path.join(cdir, "config.json"), "wb") as f:
                f.write(orjson.dumps(spec))
            init_pid, shim_pid = await self._spawn_shim(rec, cdir, config)
        except BaseException:
            await self._destroy(rec)
            raise
        rec.init_pid, rec.init_start = init_pid, runc_mounts.proc_start_time(init_pid)
        rec.shim_pid, rec.shim_start = shim_pid, runc_mounts.proc_start_time(shim_pid)
        self.store.save_container(rec)
        return cid

    async def _spawn_shim(self, rec: ContainerRecord, cdir: str, config: ContainerConfig) -> tuple[int, int]:
        oom_file = os.path.join(_cgroups.controller_dir(rec.cgroups_path, "memory"),
                                "memory.events" if _cgroups.is_v2() else "memory.oom_control")
        argv = [self.shim] if self.shim else [self.python, "-S", "-E", SHIM]
        argv += ["--runc", self.runc.binary, "--root", self.runc.root, "--id", rec.id, "--bundle", cdir,
                 "--dir", cdir, "--log", rec.log_path, "--oom-file", oom_file]
        argv += [flag for flag, on in (("--stdin", config.stdin), ("--stdin-once", config.stdin and config.stdin_once),
                                       ("--tty", config.tty)) if on]
        with open(os.path.join(cdir, "shim.log"), "ab") as shim_log:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=shim_log)
        assert proc.stdout is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        finally:
            await proc.wait()  # the forked shim lives on; this is the intermediate parent
        word, _, rest = line.partition(" ")
        if word != "ok":
            msg = runc_shim.runc_error(os.path.join(cdir, "runc.log"), rest).replace("\n", " ")
            raise ContainerCreateError(msg or f"shim failed (see {cdir}/shim.log)")
        init_pid, shim_pid = (int(x) for x in rest.split())
        return init_pid, shim_pid

    async def start_container(self, container_id: str) -> None:
        rec = self._rec(container_id)
        began = time.time()  # the process runs from inside `runc start`: a quick one may exit before it returns
        await self.runc.run("start", container_id)
        rec.started_at = began
        self.store.save_container(rec)

    # ---- status ----
    def _rec(self, cid: str) -> ContainerRecord:
        rec = self.store.containers.get(cid)
        if rec is None:
            raise KeyError(f"container {cid} not found")
        return rec

    def _status(self, rec: ContainerRecord) -> ContainerStatus:
        st = ContainerStatus(id=rec.id, sandbox_id=rec.sandbox_id, name=rec.name, attempt=rec.attempt,
                             state="created", image=rec.image, image_id=rec.image_id, created_at=rec.created_at,
                             started_at=rec.started_at, labels=dict(rec.labels))
        info = self.store.exit_info(rec.id)
        if info is not None:
            st.state, st.exit_code, st.finished_at = "exited", int(info["exit_code"]), float(info["finished_at"])
            st.reason = "OOMKilled" if info.get("oom_killed") else ("Completed" if st.exit_code == 0 else "Error")
            return st
        if runc_mounts.alive(rec.init_pid, rec.init_start) or runc_mounts.alive(rec.shim_pid, rec.shim_start):
            st.state = "running" if rec.started_at else "created"
            return st
        st.state, st.exit_code, st.reason = "exited", 255, "Unknown"
        st.message = "the container's shim is gone; its exit status was lost"
        return st

    async def container_status(self, container_id: str) -> ContainerStatus | None:
        rec = self.store.containers.get(container_id)
        return self._status(rec) if rec else None

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._status(r) for r in list(self.store.containers.values())
                if sandbox_id is None or r.sandbox_id == sandbox_id]

    # ---- stop / remove ----
    async def _wait_exit(self, rec: ContainerRecord, timeout: float) -> bool:
        if self.store.exit_info(rec.id) is not None:
            return True
        pid = rec.shim_pid if runc_mounts.alive(rec.shim_pid, rec.shim_start) else rec.init_pid
        if not runc_mounts.alive(pid, rec.shim_start if pid == rec.shim_pid else rec.init_start):
            return True
        return await wait_pid_exit(pid, timeout)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        rec = self.store.containers.get(container_id)
        if rec is None or self._status(rec).state == "exited":
            return
        if timeout > 0 and rec.started_at and await self.runc.kill(container_id, "TERM"):
            if await self._wait_exit(rec, timeout):
                return
        await self.runc.kill(container_id, "KILL")
        await self._wait_exit(rec, KILL_WAIT)

    async def remove_container(self, container_id: str) -> None:
        rec = self.store.containers.get(container_id)
        if rec is not None:
            await self.stop_container(container_id, 0)
            await self._destroy(rec)

    async def _destroy(self, rec: ContainerRecord) -> None:
        await self.runc.delete(rec.id)
        await self.images.unmount_rootfs(rec.id)
        _cgroups.remove_tree(rec.cgroups_path)
        shutil.rmtree(self.store.container_dir(rec.id), ignore_errors=True)
        self.store.forget_container(rec.id)

    # ---- exec ----
    def exec_argv(self, container_id: str, cmd: list[str], tty: bool = False) -> list[str]:
        """The argv of `runc exec` for a streaming exec (the caller wires stdio / a pty)."""
        return self.runc.argv("exec", *(["-t"] if tty else []), container_id, *cmd)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        rec = self._rec(container_id)
        pid_file = os.path.join(self.store.container_dir(rec.id), f"exec-{secrets.token_hex(4)}.pid")
        proc = await asyncio.create_subprocess_exec(
            *self.runc.argv("exec", "--pid-file", pid_file, container_id, *cmd),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout if timeout > 0 else None)
        except TimeoutError:
            try:
                with open(pid_file) as f:
                    os.kill(int(f.read().strip()), 9)
            except (OSError, ValueError):
                pass
            proc.kill()
            await proc.wait()
            raise TimeoutError(f"command {cmd!r} timed out after {timeout}s") from None
        finally:
            try:
                os.unlink(pid_file)
            except FileNotFoundError:
                pass
        return ExecResult(exit_code=proc.returncode or 0, stdout=out, stderr=err)

    # ---- logs / stats ----
    def reopen_container_log(self, container_id: str) -> None:
        """Ask the shim to reopen the log file (after the agent rotated it)."""
        rec = self._rec(container_id)
        if runc_mounts.alive(rec.shim_pid, rec.shim_start):
            os.kill(rec.shim_pid, 10)  # SIGUSR1

    def container_cgroup(self, container_id: str) -> str:
        return self._rec(container_id).cgroups_path

    async def attach_stdin(self, container_id: str) -> ShimAttach | None:
        """The running container's stdin (None unless it was created with `stdin: true`)."""
        rec = self.store.containers.get(container_id)
        return await ShimAttach.connect(self.store.container_dir(rec.id)) if rec else None


def default_python() -> str:
    return sys.executable


def default_shim() -> str:
    """The C shim if built (`make setup` puts it at <venv>/bin/tug-shim), else "" (Python)."""
    env = os.environ.get(SHIM_ENV)
    if env is not None:
        return "" if env in ("", "python") else env
    path = os.path.join(sys.prefix, "bin", "tug-shim")
    return path if os.access(path, os.X_OK) else ""
