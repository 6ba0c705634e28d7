"""A runtime with no processes: hollow nodes for scale tests (the KWOK / kubemark idea).

It implements `runtime.base.Runtime` over in-memory records, so the node agent runs its real
code path (sandbox → image pull → create → start → status → probes → termination) while
thousands of simulated nodes fit in one process. Time comes from the injected clock, so tests
drive exits and back-offs with a FakeClock.

Behaviour is driven by pod annotations (read from the SandboxConfig's pod):

=========================================  =====================================================
`sim.tugboat.dev/exit-after: "5s"`          app containers exit this long after starting
                                            (default: run forever; init containers exit 0 at once)
`sim.tugboat.dev/exit-code: "1"`            their exit code (default 0)
`sim.tugboat.dev/exit-reason: "OOMKilled"`  the terminated reason (default Completed / Error)
`sim.tugboat.dev/exit-after.<container>`    per-container override (also `exit-code.<c>`);
                                            `exit-after.<c>: "never"` keeps it running
`sim.tugboat.dev/fail-first: "2"`           the first 2 pods of the same owner (ownerReference
                                            uid) started by this agent process exit with
                                            `exit-code` (default 1), later ones with 0: a Job
                                            that fails twice, then succeeds
`sim.tugboat.dev/fail-start: "reason"`      start_container fails (StartError, exit 128)
`sim.tugboat.dev/pull-error: "message"`     image pulls fail with ErrImagePull and this message
`sim.tugboat.dev/pull-duration: "2s"`       an image pull takes this long
`sim.tugboat.dev/never-ready: "true"`       readiness always fails (even without a probe)
`sim.tugboat.dev/ready-after: "10s"`        readiness passes only this long after start
`sim.tugboat.dev/liveness-fail-after: "30s"` liveness fails from this long after start
`sim.tugboat.dev/startup-after: "10s"`      a startup probe passes only after this long
`sim.tugboat.dev/ignore-sigterm: "true"`    stopping waits the whole grace period (SIGKILL, 137)
=========================================  =====================================================

Durations are Go-style (`1m30s`, `500ms`) or plain seconds. Sandbox IPs come from the node's
podCIDR once `update_runtime_config(pod_cidr)` is called, else from a private fallback range.
State changes (a container exiting) are reported to `subscribe()`d callbacks with the pod uid,
so the agent does not have to poll (no PLEG relist per hollow node).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tugboat.client.clock import AsyncClock
from tugboat.node.keys import CONTAINER_NAME, POD_UID
from tugboat.node.runtime.base import (
    ContainerConfig,
    ContainerStatus,
    ExecResult,
    SandboxConfig,
    SandboxStatus,
)

PREFIX = "sim.tugboat.dev/"
_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Go-style duration or plain seconds; None for "never"/empty/garbage."""
    text = (text or "").strip()
    if not text or text == "never":
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DUR.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos else None


# owner uid → uids of its pods in the order this process first started them (for fail-first)
_OWNER_PODS: dict[str, list[str]] = {}


def _attempt_of(pod: dict[str, Any], pod_uid: str) -> int:
    """0-based index of this pod among its controller's pods started in this process."""
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    owner = next((r.get("uid", "") for r in refs if r.get("controller")), "") or pod_uid
    seen = _OWNER_PODS.setdefault(owner, [])
    if pod_uid not in seen:
        seen.append(pod_uid)
    return seen.index(pod_uid)


class StartError(RuntimeError):
    pass


class SimPullError(RuntimeError):
    reason = "ErrImagePull"


@dataclass
class _Sandbox:
    status: SandboxStatus
    config: SandboxConfig


@dataclass
class _Container:
    status: ContainerStatus
    annotations: dict[str, str]
    kind: str  # "init" | "app"
    timer: asyncio.Task[None] | None = None
    log: list[str] = field(default_factory=list)


class SimulatedRuntime:
    name = "simulated"
    simulated = True

    def __init__(self, clock: AsyncClock, *, fallback_cidr: str = "10.250.0.0/24", node_name: str = ""):
        self.clock = clock
        self.node_name = node_name
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._images: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._ip_pool: list[str] = []
        self._ips_used: set[str] = set()
        self._listeners: list[Callable[[str], None]] = []
        self.set_cidr(fallback_cidr)

    # ---- helpers ----
    def _new_id(self, what: str) -> str:
        raw = f"{self.node_name}/{what}/{next(self._ids)}/{self.clock.time()}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def set_cidr(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        hosts = net.hosts()
        next(hosts, None)  # .1 is the gateway on a real bridge
        self._ip_pool = [str(ip) for ip in itertools.islice(hosts, 1024)]

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """`callback(pod_uid)` whenever a container of that pod changes state on its own."""
        self._listeners.append(callback)

    def _notify(self, pod_uid: str) -> None:
        for cb in list(self._listeners):
            cb(pod_uid)

    # ---- runtime config ----
    async def version(self) -> str:
        return "simulated://0.1.0"

    def update_runtime_config(self, pod_cidr: str) -> None:
        self.set_cidr(pod_cidr)

    # ---- sandboxes ----
    async def run_sandbox(self, config: SandboxConfig) -> str:
        sid = self._new_id("sandbox")
        ip = ""
        if not config.host_network:
            ip = next((i for i in self._ip_pool if i not in self._ips_used), "")
            if not ip:
                raise RuntimeError("failed to allocate a pod IP: the range is full")
            self._ips_used.add(ip)
        labels = {**config.labels, POD_UID: config.pod_uid}
        self._sandboxes[sid] = _Sandbox(SandboxStatus(sid, config.pod_uid, "ready", ip, self.clock.time(), labels),
                                        config)
        return sid

    async def stop_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        for c in self._containers.values():
            if c.status.sandbox_id == sandbox_id and c.status.state in ("running", "created"):
                self._exit(c, 137, "Error")
        sb.status.state = "notready"
        self._ips_used.discard(sb.status.ip)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.stop_sandbox(sandbox_id)
        for cid in [i for i, c in self._containers.items() if c.status.sandbox_id == sandbox_id]:
            await self.remove_container(cid)
        self._sandboxes.pop(sandbox_id, None)

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus | None:
        sb = self._sandboxes.get(sandbox_id)
        return sb.status if sb else None

    async def list_sandboxes(self) -> list[SandboxStatus]:
        return [s.status for s in self._sandboxes.values()]

    # ---- containers ----
    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None or sb.status.state != "ready":
            raise RuntimeError(f"sandbox {sandbox_id[:12]} is not ready")
        cid = self._new_id("container")
        labels = {**config.labels, POD_UID: sandbox.pod_uid, CONTAINER_NAME: config.name}
        st = ContainerStatus(cid, sandbox_id, config.name, config.attempt, "created", image=config.image,
                             image_id=self._images.get(config.image, _image_id(config.image)),
                             created_at=self.clock.time(), labels=labels)
        anns = dict((sandbox.pod.get("metadata") or {}).get("annotations") or sandbox.annotations or {})
        kind = config.labels.get("io.tugboat.container.kind", "app")
        first = anns.get(PREFIX + "fail-first")
        if first is not None and kind == "app":
            failing = _attempt_of(sandbox.pod, sandbox.pod_uid) < int(first or 0)
            anns[PREFIX + "exit-code"] = anns.get(PREFIX + "exit-code", "1") if failing else "0"
            anns.setdefault(PREFIX + "exit-after", "0")
            for k in [k for k in anns if k.startswith(PREFIX + "exit-code.")]:
                del anns[k]
        self._containers[cid] = _Container(st, anns, kind)
        return cid

    def _ann(self, c: _Container, key: str) -> str | None:
        v = c.annotations.get(f"{PREFIX}{key}.{c.status.name}")
        return v if v is not None else c.annotations.get(PREFIX + key)

    async def start_container(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is None:
            raise RuntimeError(f"container {container_id[:12]} not found")
        if c.status.state != "created":
            return
        fail = self._ann(c, "fail-start")
        now = self.clock.time()
        if fail:
            c.status.state, c.status.exit_code, c.status.reason = "exited", 128, "StartError"
            c.status.message, c.status.started_at, c.status.finished_at = fail, now, now
            raise StartError(fail)
        c.status.state, c.status.started_at = "running", now
        raw = self._ann(c, "exit-after")
        after = parse_duration(raw) if raw is not None else (0.0 if c.kind == "init" else None)
        if after is not None:
            code = int(self._ann(c, "exit-code") or 0) if raw is not None else 0
            c.timer = asyncio.get_running_loop().create_task(self._exit_later(c, after, code))

    async def _exit_later(self, c: _Container, after: float, code: int) -> None:
        await self.clock.sleep(after)
        if c.status.state == "running":
            self._exit(c, code, self._ann(c, "exit-reason") or ("Completed" if code == 0 else "Error"))
            self._notify(c.status.labels.get(POD_UID, ""))

    def _exit(self, c: _Container, code: int, reason: str) -> None:
        c.status.state, c.status.exit_code, c.status.reason = "exited", code, reason
        c.status.finished_at = self.clock.time()
        if c.timer is not None and c.timer is not asyncio.current_task():
            c.timer.cancel()
        c.timer = None

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._containers.get(container_id)
        if c is None or c.status.state not in ("running", "created"):
            return
        if c.status.state == "created":
            self._exit(c, 0, "Completed")
            return
        if (self._ann(c, "ignore-sigterm") or "").lower() == "true" and timeout > 0:
            await self.clock.sleep(timeout)
            if c.status.state == "running":
                self._exit(c, 137, "Error")
            return
        self._exit(c, 143, "Error")

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.pop(container_id, None)
        if c is not None and c.timer is not None:
            c.timer.cancel()

    async def container_status(self, container_id: str) -> ContainerStatus | None:
        c = self._containers.get(container_id)
        return c.status if c else None

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c.status for c in self._containers.values()
                if sandbox_id is None or c.status.sandbox_id == sandbox_id]

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        c = self._containers.get(container_id)
        if c is None or c.status.state != "running":
            return ExecResult(126, b"", b"container is not running\n")
        return ExecResult(0, b"", b"")

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> Any:
        """Canned interactive commands (runtime.sim_exec): echo, cat, sh -c, exit …"""
        from tugboat.node.runtime.sim_exec import SimExec

        c = self._containers.get(container_id)
        if c is None or c.status.state != "running":
            raise RuntimeError(f"container {container_id[:12]} is not running")
        proc = SimExec(cmd, tty=tty, stdin=stdin)
        if size is not None:
            proc.resize(*size)
        return proc

    # ---- probes (annotation driven) ----
    def wants_probe(self, annotations: dict[str, str], kind: str) -> bool:
        """Whether annotations ask for a probe of `kind` even if the spec has none."""
        keys = {"readiness": ("never-ready", "ready-after"), "liveness": ("liveness-fail-after",),
                "startup": ("startup-after",)}[kind]
        return any(PREFIX + k in annotations for k in keys)

    def simulated_probe(self, container_id: str, kind: str) -> tuple[bool, str]:
        c = self._containers.get(container_id)
        if c is None or c.status.state != "running":
            return False, "container is not running"
        elapsed = self.clock.time() - c.status.started_at
        if kind == "readiness":
            if (self._ann(c, "never-ready") or "").lower() == "true":
                return False, "simulated: never ready"
            after = parse_duration(self._ann(c, "ready-after") or "")
            if after is not None and elapsed < after:
                return False, "simulated: not ready yet"
        elif kind == "liveness":
            after = parse_duration(self._ann(c, "liveness-fail-after") or "")
            if after is not None and elapsed >= after:
                return False, "simulated: liveness failure"
        elif kind == "startup":
            after = parse_duration(self._ann(c, "startup-after") or "")
            if after is not None and elapsed < after:
                return False, "simulated: not started yet"
        return True, ""

    # ---- images ----
    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        self._images[image] = _image_id(image)
        return self._images[image]

    async def pull_image_for_pod(self, image: str, pod: dict[str, Any], auth: dict[str, str] | None = None) -> str:
        anns = (pod.get("metadata") or {}).get("annotations") or {}
        dur = parse_duration(anns.get(PREFIX + "pull-duration", ""))
        if dur:
            await self.clock.sleep(dur)
        err = anns.get(PREFIX + "pull-error")
        if err:
            raise SimPullError(err)
        return await self.pull_image(image, auth)

    async def image_present(self, image: str) -> str | None:
        return self._images.get(image)

    async def close(self) -> None:
        for c in self._containers.values():
            if c.timer is not None:
                c.timer.cancel()


def _image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()
