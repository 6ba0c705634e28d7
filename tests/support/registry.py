"""A real OCI registry for tests (Debian's `docker-registry`, the CNCF distribution registry)
on a free 127.0.0.1 port with its storage in a temp dir, and helpers to build and push test
images made from Debian's busybox-static.

    async with running_registry() as reg:            # reg.host == "127.0.0.1:PORT"
        digest = await push_busybox(reg, "library/busybox:latest")
        ...
    async with running_registry(users={"alice": "s3cret"}) as reg:   # htpasswd basic auth

The registry is stopped by pid and its temp dir removed on exit. Skips the test (with the
reason) when docker-registry or busybox-static is not installed (`make setup` installs both).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tugboat.node.images.client import RegistryClient
from tugboat.node.images.platform import Platform
from tugboat.node.images.push import Blob, Pusher, image_config, layer_from_dir, layer_from_tar
from tugboat.node.images.reference import parse
from tugboat.node.images.regconfig import RegistryConfig

REGISTRY_BIN = "/usr/bin/docker-registry"
BUSYBOX_BIN = "/bin/busybox"
BUSYBOX_APPLETS = ("sh", "ash", "ls", "cat", "echo", "sleep", "httpd", "wget", "env", "id", "ps", "kill",
                   "mkdir", "rm", "cp", "mv", "touch", "test", "[", "true", "false", "grep", "sed", "head",
                   "tail", "wc", "date", "hostname", "nc", "dd", "printf", "stat", "df", "mount", "uname",
                   "whoami", "tar", "chmod", "ln", "pwd", "seq", "yes", "xargs", "find", "tee", "nslookup",
                   "ping", "ip", "ifconfig", "top", "free", "vi", "less", "more", "sort", "uniq", "cut",
                   "tr", "expr", "basename", "dirname", "readlink", "realpath", "timeout", "usleep")


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    storage: Path  # the registry's storage root directory
    pid: int
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def config(self, **extra: Any) -> RegistryConfig:
        """A RegistryConfig that can talk to this registry (with its credentials)."""
        data: dict[str, Any] = {"mirrors": {}, "configs": {}}
        if self.users:
            user, pw = next(iter(self.users.items()))
            data["configs"][self.host] = {"auth": {"username": user, "password": pw}}
        for k, v in extra.items():
            data[k] = v
        return RegistryConfig(data)

    def blob_data(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _htpasswd(users: dict[str, str]) -> str:
    """bcrypt lines for the registry's htpasswd auth (the `bcrypt` package, else glibc crypt)."""
    lines = []
    for user, pw in users.items():
        try:
            import bcrypt  # type: ignore[import-not-found]

            h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()
        except ImportError:
            try:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import crypt

                h = crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))
            except (ImportError, AttributeError):
                pytest.skip("no bcrypt implementation (pip install bcrypt) for the htpasswd registry")
            if not h or not h.startswith("$2"):
                pytest.skip("this libc's crypt() has no bcrypt; pip install bcrypt")
        lines.append(f"{user}:{h}")
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def running_registry(users: dict[str, str] | None = None, *,
                           token_auth: bool = False) -> AsyncIterator[Registry]:
    """`users`: htpasswd basic auth; with `token_auth=True` the registry instead wants Bearer
    tokens from an in-process token server (realm …/token) that checks `users` by Basic auth
    and grants whatever scope is asked (anonymous callers get no access)."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry, or make setup)")
    tmp = Path(tempfile.mkdtemp(prefix="tug-registry-"))
    proc: subprocess.Popen[bytes] | None = None
    token_runner = None
    try:
        storage = tmp / "storage"
        storage.mkdir()
        auth = ""
        if token_auth:
            from tests.support.registry_token import start_token_server

            token_runner, realm = await start_token_server(tmp, dict(users or {}))
            auth = (f"auth:\n  token:\n    realm: {realm}\n    service: tugboat-test\n"
                    f"    issuer: tugboat-test-issuer\n    rootcertbundle: {tmp / 'token-root.pem'}\n")
        elif users:
            (tmp / "htpasswd").write_text(_htpasswd(users))
            auth = f"auth:\n  htpasswd:\n    realm: tugboat-test\n    path: {tmp / 'htpasswd'}\n"
        for _attempt in range(3):
            port = _free_port()
            (tmp / "config.yml").write_text(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: tugboat-test-secret\n" + auth)
            log = open(tmp / "registry.log", "wb")
            proc = subprocess.Popen([REGISTRY_BIN, "serve", str(tmp / "config.yml")], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            if await _wait_ready(proc, port):
                break
            _stop(proc)
            proc = None
        if proc is None:
            raise RuntimeError("docker-registry did not start: " + (tmp / "registry.log").read_text()[-2000:])
        yield Registry(f"127.0.0.1:{port}", storage, proc.pid, dict(users or {}))
    finally:
        if proc is not None:
            _stop(proc)
        if token_runner is not None:
            await token_runner.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


async def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 15.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as s:
        while loop.time() < deadline:
            if proc.poll() is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with s.get(f"http://127.0.0.1:{port}/v2/") as r:
                    if r.status in (200, 401):
                        return True
            await asyncio.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


# --- test images ---------------------------------------------------------------------------

def build_busybox_rootfs(root: str | Path, extra_files: dict[str, str] | None = None) -> Path:
    """A minimal root filesystem: /bin/busybox (static) with applet symlinks, /etc/passwd,
    /etc/group, /tmp (1777), /root, and any `extra_files` {path: content}."""
    if not os.path.exists(BUSYBOX_BIN):
        pytest.skip("busybox-static is not installed (apt-get install busybox-static, or make setup)")
    root = Path(root)
    for d in ("bin", "etc", "root", "tmp", "var", "proc", "sys", "dev", "home"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(BUSYBOX_BIN, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for applet in BUSYBOX_APPLETS:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for path, content in (extra_files or {}).items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def make_layer_tar(path: Path, entries: Sequence[tuple[str, str, str | bytes]], gz: bool = True) -> Path:
    """entries: (name, kind, payload) with kind file|dir|symlink|hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.uid, ti.gid, ti.mtime = 1000, 1001, 1_600_000_000
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                ti.size, ti.mode = len(data), 0o640
                tf.addfile(ti, io.BytesIO(data))
                continue
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o750
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(payload)
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, str(payload)
            tf.addfile(ti)
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


async def push_rootfs(reg: Registry, repo_tag: str, rootfs: str | Path, *, cmd: list[str] | None = None,
                      platform: Platform | None = None, client: RegistryClient | None = None,
                      **config: Any) -> tuple[str, int]:
    """Push `rootfs` as a one-layer image `reg.host/<repo_tag>`; returns (manifest digest, size)."""
    own = client is None
    client = client or RegistryClient(reg.config())
    try:
        with tempfile.TemporaryDirectory(prefix="tug-layer-") as tmp:
            layer: Blob = layer_from_dir(rootfs, Path(tmp) / "layer.tar.gz")
            cfg = image_config([layer], cmd=cmd, platform=platform, **config)
            return await Pusher(client).image(parse(f"{reg.host}/{repo_tag}"), [layer], cfg)
    finally:
        if own:
            await client.close()


async def push_busybox(reg: Registry, repo_tag: str = "library/busybox:latest",
                       extra_files: dict[str, str] | None = None, **kw: Any) -> str:
    """Build the busybox test image (Cmd ["sh"]) and push it; returns the manifest digest."""
    with tempfile.TemporaryDirectory(prefix="tug-busybox-") as tmp:
        build_busybox_rootfs(tmp, extra_files)
        kw.setdefault("cmd", ["sh"])
        digest, _ = await push_rootfs(reg, repo_tag, tmp, **kw)
        return digest


async def push_layers(reg: Registry, repo_tag: str, tarballs: list[Path], **config: Any) -> str:
    """Push an image made of the given layer tarballs (bottom first); returns the manifest digest."""
    client = RegistryClient(reg.config())
    try:
        with tempfile.TemporaryDirectory(prefix="tug-layers-") as tmp:
            layers = [layer_from_tar(t, Path(tmp) / f"{i}.tar.gz") for i, t in enumerate(tarballs)]
            digest, _ = await Pusher(client).image(parse(f"{reg.host}/{repo_tag}"), layers,
                                                   image_config(layers, **config))
            return digest
    finally:
        await client.close()
