"""The container runtime contract the node agent drives, shaped like the CRI.

A pod is a *sandbox* (its network namespace, hostname, DNS config, cgroup parent) holding
*containers*. The node agent's pod workers call only these methods; `runc.py` implements
them with real runc containers, `simulated.py` with no processes at all (hollow nodes for
scale tests, behaviour driven by pod annotations). Every method is idempotent where the CRI's
is, and `list_*` must reflect reality after an agent restart (so a restarted agent adopts
running containers instead of restarting them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class SandboxConfig:
    pod_uid: str
    name: str
    namespace: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    dns: dict[str, Any] = field(default_factory=dict)  # {"servers": [...], "searches": [...], "options": [...]}
    port_mappings: list[dict[str, Any]] = field(default_factory=list)  # containerPort/hostPort/protocol/hostIP
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    # The pod spec, for runtimes that take behaviour from it (simulated) — read-only.
    pod: dict[str, Any] = field(default_factory=dict)


@dataclass
class SandboxStatus:
    id: str
    pod_uid: str
    state: str  # "ready" | "notready"
    ip: str = ""
    created_at: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False
    propagation: str = "private"


@dataclass
class ContainerConfig:
    name: str
    image: str  # resolved image reference (digest when known)
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    log_path: str = ""
    # resources: cpu shares/quota in millicores, memory limit in bytes (None = unlimited)
    cpu_request_milli: int = 0
    cpu_limit_milli: int | None = None
    memory_limit_bytes: int | None = None
    security_context: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)  # the container spec, read-only


@dataclass
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: str  # "created" | "running" | "exited" | "unknown"
    image: str = ""
    image_id: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


class Runtime(Protocol):
    name: str

    async def version(self) -> str: ...

    # ---- sandboxes ----
    async def run_sandbox(self, config: SandboxConfig) -> str:
        """Create and start the pod sandbox (network namespace + IP); returns its id."""

    async def stop_sandbox(self, sandbox_id: str) -> None:
        """Stop every container in it and tear down networking (idempotent)."""

    async def remove_sandbox(self, sandbox_id: str) -> None: ...

    async def sandbox_status(self, sandbox_id: str) -> SandboxStatus | None: ...

    async def list_sandboxes(self) -> list[SandboxStatus]: ...

    # ---- containers ----
    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds (idempotent)."""

    async def remove_container(self, container_id: str) -> None: ...

    async def container_status(self, container_id: str) -> ContainerStatus | None: ...

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        """Run a command in the container and wait (probes, `kubectl exec` without a tty)."""

    # ---- images ----
    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        """Make the image present; returns its image id (config digest)."""

    async def image_present(self, image: str) -> str | None: ...


# ---- optional capabilities (the agent checks for them with isinstance; a runtime may skip them) ----


@runtime_checkable
class SupportsRuntimeConfig(Protocol):
    def update_runtime_config(self, pod_cidr: str) -> None:
        """CRI UpdateRuntimeConfig: the node's podCIDR, once the IPAM controller set it (sandbox IPs
        come from it). Called again if it changes; never with an empty string."""


@runtime_checkable
class SupportsEvents(Protocol):
    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call `callback(pod_uid)` when a container of that pod changes state on its own (it exited).
        Without it the agent relists every second (upstream's PLEG) to notice exits."""


class ExecStream(Protocol):
    """A running interactive command (`kubectl exec -i/-t`): stdin in, stdout/stderr out.

    `read()` returns (1, data) for stdout, (2, data) for stderr, and (0, b"") once both are at
    EOF; with a tty there is only stdout (the terminal). `close_stdin()` is stdin EOF (with a
    tty: end-of-transmission to the terminal). `wait()` returns the exit code; `kill()` ends
    the command (the client went away)."""

    async def read(self) -> tuple[int, bytes]: ...

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    async def kill(self) -> None: ...


@runtime_checkable
class SupportsExecStream(Protocol):
    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> ExecStream:
        """Start `cmd` in the running container with streamed stdio (and a terminal if `tty`,
        `size` = (width, height) from its first moment, so `stty size` never sees 0 0).
        Raises RuntimeError with a message for the user when it cannot start."""


class AttachStdin(Protocol):
    """A running container's own stdin (kubectl attach -i): see runtime.shim_attach."""

    async def write(self, data: bytes) -> None: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def close_stdin(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SupportsAttach(Protocol):
    async def attach_stdin(self, container_id: str) -> AttachStdin | None:
        """The stdin of a container created with `stdin: true` (None otherwise). Closing the
        session leaves stdin open for the next attach unless the container is stdinOnce, whose
        stdin closes when the first attach closes its stdin or leaves."""
