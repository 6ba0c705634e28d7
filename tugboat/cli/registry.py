"""The local image registry of `tug server`: Debian's `docker-registry` as a supervised child.

With no Docker engine and no public registry, users need somewhere to put images; k3s users
point a mirror at a local registry for the same reason. `tug server` runs the CNCF distribution
registry (config and storage under DATA_DIR/registry, 127.0.0.1:5000 by default) and hands the
local agent a registries.yaml in which that registry mirrors docker.io (and itself, under its
`localhost` name too). So `tug image push ./rootfs busybox` (a Docker Hub name goes to the
local registry, see `push_target`) followed by `image: busybox` in a pod works.

A registries.yaml the user put in DATA_DIR is kept: its entries come first, the local
registry is appended to the docker.io mirrors as the last mirror before Docker Hub itself.

`--registry-bind ADDR` serves it on an address other hosts reach; the server then publishes the
mirror in the `kube-public/tugboat-registries` ConfigMap (readable by nodes), which an agent
that joined with `--server/--token` and has no `--registry-config` of its own reads at start.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGISTRY_BIN = "/usr/bin/docker-registry"
DEFAULT_PORT = 5000
DOCKER_HUB = "docker.io"
_background: set[asyncio.Future[None]] = set()  # strong references to fire-and-forget tasks


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (we could not bind it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class LocalRegistry:
    """Files and command line of the server's registry (`port` 0 = pick a free one)."""

    data: Path  # the server's data dir
    port: int = DEFAULT_PORT
    binary: str = REGISTRY_BIN
    bind: str = "127.0.0.1"  # --registry-bind: an address other hosts reach, for joined agents
    advertise: str = ""  # the address joined agents use (default: `bind`, or 127.0.0.1 for 0.0.0.0)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.bind)
        self.advertise = self.advertise or ("127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind)

    @property
    def dir(self) -> Path:
        return self.data / "registry"

    @property
    def host(self) -> str:
        """Where the local agent and `tug image push` reach it (loopback unless bound elsewhere)."""
        local = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "127.0.0.1") else self.bind
        return f"{local}:{self.port}"

    @property
    def shared(self) -> bool:
        """Reachable from other hosts (then joined agents are told about it)."""
        return not self.bind.startswith("127.") and self.bind not in ("::1", "localhost")

    @property
    def remote_url(self) -> str:
        """The mirror URL for agents on other hosts."""
        return f"http://{self.advertise}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def agent_config(self) -> Path:
        """The registries.yaml the local agent gets (user's file + this registry as mirror)."""
        return self.dir / "registries.yaml"

    def missing(self) -> str:
        """Why the registry cannot run here ('' when it can)."""
        if not os.path.exists(self.binary):
            return f"{self.binary} not found (apt-get install docker-registry)"
        if port_in_use(self.bind, self.port):
            return f"port {self.port} on {self.bind} is in use (use --registry-port or --disable registry)"
        return ""

    def write_config(self) -> Path:
        """The registry's config.yml: filesystem storage under DATA_DIR/registry/storage,
        deletes allowed (so `tug image rm` can come later), plain HTTP on `bind` (loopback by default)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        storage = self.dir / "storage"
        storage.mkdir(exist_ok=True)
        secret_file = self.dir / "http-secret"
        if not secret_file.exists():
            secret_file.write_text(os.urandom(16).hex())
            secret_file.chmod(0o600)
        cfg = {"version": 0.1,
               "log": {"level": "warn", "accesslog": {"disabled": True}},
               "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True},
                           "maintenance": {"uploadpurging": {"enabled": False}}},
               "http": {"addr": f"{self.bind}:{self.port}", "secret": secret_file.read_text().strip()}}
        path = self.dir / "config.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    def argv(self) -> list[str]:
        return [self.binary, "serve", str(self.dir / "config.yml")]

    def write_agent_config(self, user_file: Path | None = None) -> Path:
        """Merge the user's registries.yaml (if any) with this registry as a docker.io mirror."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        data: dict[str, Any] = {}
        if user_file is not None and user_file.exists():
            data = yaml.safe_load(user_file.read_text()) or {}
        self.agent_config.write_text(yaml.safe_dump(merge_mirror(data, self.url, self.port), sort_keys=False))
        return self.agent_config


def merge_mirror(data: dict[str, Any], url: str, port: int) -> dict[str, Any]:
    """`data` (k3s registries.yaml) with `url` added as the last docker.io mirror and as the
    endpoint of 127.0.0.1:PORT / localhost:PORT (entries the user wrote win)."""
    out = dict(data)
    mirrors = {k: dict(v or {}) for k, v in (data.get("mirrors") or {}).items()}
    hub = mirrors.setdefault(DOCKER_HUB, {})
    endpoints = list(hub.get("endpoint") or [])
    if url not in endpoints:
        endpoints.append(url)
    hub["endpoint"] = endpoints
    for name in (f"127.0.0.1:{port}", f"localhost:{port}"):
        mirrors.setdefault(name, {"endpoint": [url]})
    out["mirrors"] = mirrors
    return out


def push_target(image: str, registry: str) -> str:
    """Where `tug image push/build` puts `image`: Docker Hub names (`busybox`,
    `docker.io/x/y`) go to the local `registry` (host:port), as the agent's docker.io mirror
    finds them there; names with another registry stay as they are. `registry` '' = no rewrite."""
    from tugboat.node.images.reference import parse

    ref = parse(image)
    if not registry or ref.domain != DOCKER_HUB:
        return image
    tail = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
    return f"{registry}/{ref.path}{tail}"


async def wait_ready(url: str, timeout: float = 10.0) -> bool:
    """Until GET /v2/ answers (200, or 401 with auth) or `timeout`."""
    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
        while loop.time() < deadline:
            try:
                async with s.get(f"{url}/v2/") as r:
                    if r.status in (200, 401):
                        return True
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    return False


def start_registry(data: Path, port: int, say: Any, bind: str = "127.0.0.1",
                   advertise: str = "") -> tuple[Any, LocalRegistry | None]:
    """Start the registry child (`tug server` calls this; needs a running event loop).
    Returns (Supervisor, LocalRegistry), or (None, None) with the reason said when it cannot run."""
    from tugboat.cli.supervise import Supervisor

    reg = LocalRegistry(data, port, bind=bind, advertise=advertise)
    why = reg.missing()
    if why:
        say(f"no local image registry: {why}")
        return None, None
    reg.write_config()
    reg.write_agent_config(data / "registries.yaml")
    sup = Supervisor("registry", reg.argv(), log_path=data / "registry.log")
    sup.start()

    async def announce() -> None:
        if await wait_ready(reg.url, 30.0):
            say(f"image registry ready on {reg.host} (mirror for docker.io; push with `tug image push DIR NAME`)")

    task = asyncio.ensure_future(announce())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return sup, reg


MIRROR_CONFIGMAP = "tugboat-registries"  # in kube-public
MIRROR_PATH = f"/api/v1/namespaces/kube-public/configmaps/{MIRROR_CONFIGMAP}"


def mirror_configmap(reg: LocalRegistry) -> dict[str, Any]:
    """What joined agents read: a registries.yaml with the shared registry as docker.io mirror."""
    doc = merge_mirror({}, reg.remote_url, reg.port)
    doc["mirrors"][f"{reg.advertise}:{reg.port}"] = {"endpoint": [reg.remote_url]}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": MIRROR_CONFIGMAP, "namespace": "kube-public"},
            "data": {"registries.yaml": yaml.safe_dump(doc, sort_keys=False)}}


async def publish_mirror(client: Any, reg: LocalRegistry) -> None:
    """Create or update kube-public/tugboat-registries (every server start; idempotent)."""
    from tugboat.client import is_already_exists

    cm = mirror_configmap(reg)
    try:
        await client.request("POST", "/api/v1/namespaces/kube-public/configmaps", body=cm)
    except Exception as e:
        if not is_already_exists(e):
            raise
        cur = await client.request("GET", MIRROR_PATH)
        cm["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
        await client.request("PUT", MIRROR_PATH, body=cm)


async def fetch_mirror(client: Any, dest: Path) -> Path | None:
    """On a joined agent: the server's shared-registry config written to `dest` (None if none)."""
    from tugboat.client import is_not_found

    try:
        cm = await client.request("GET", MIRROR_PATH)
    except Exception as e:
        if is_not_found(e):
            return None
        raise
    text = (cm.get("data") or {}).get("registries.yaml") or ""
    if not text:
        return None
    dest.write_text(text)
    dest.chmod(0o600)
    return dest
