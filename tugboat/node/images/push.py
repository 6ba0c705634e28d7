"""Build single-layer OCI images from a root filesystem and push them (`tug image push`).

There is no Docker engine on these machines, so this is how images get into a registry: a
directory or a rootfs tarball becomes one gzip layer plus an OCI image config (entrypoint,
cmd, env, working dir) and an OCI image manifest; an OCI image layout directory is pushed as
it is. Blobs the registry already has are skipped (HEAD), others are uploaded with POST+PUT
(monolithic) or POST+PATCH…+PUT (chunked).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from tugboat.node.images.client import RegistryClient, sha256_digest
from tugboat.node.images.platform import Platform, host_platform
from tugboat.node.images.reference import Reference, parse
from tugboat.node.images.regconfig import Endpoint, _endpoint

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Blob:
    path: Path
    digest: str
    size: int
    media_type: str
    diff_id: str = ""

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class HashWriter:
    """A file wrapper that counts and sha256-hashes what is written (a blob's digest and size)."""

    def __init__(self, out: IO[bytes]):
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, b: bytes) -> int:
        self.hash.update(b)
        self.size += len(b)
        return self.out.write(b)

    def flush(self) -> None:
        self.out.flush()


def layer_from_dir(rootfs: str | Path, out: Path) -> Blob:
    """Tar (sorted, owners and modes kept) + gzip `rootfs` into `out`."""
    rootfs = Path(rootfs)
    with open(out, "wb") as f:
        outer = HashWriter(f)
        with gzip.GzipFile(fileobj=outer, mode="wb", mtime=0, compresslevel=6) as gz:  # type: ignore[arg-type]
            inner = HashWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
                for name in sorted(os.listdir(rootfs)):
                    tf.add(rootfs / name, arcname=name, recursive=True)
    return Blob(out, "sha256:" + outer.hash.hexdigest(), outer.size, OCI_LAYER_GZIP,
                "sha256:" + inner.hash.hexdigest())


def layer_from_tar(tarball: str | Path, out: Path) -> Blob:
    """A rootfs tarball (.tar or .tar.gz) as a gzip layer (plain tars are compressed)."""
    with open(tarball, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if gz:
        diff = hashlib.sha256()
        with gzip.open(tarball, "rb") as g:
            while b := g.read(1 << 20):
                diff.update(b)
        data_hash, size = hashlib.sha256(), 0
        with open(tarball, "rb") as f, open(out, "wb") as o:
            while b := f.read(1 << 20):
                data_hash.update(b)
                size += len(b)
                o.write(b)
        return Blob(out, "sha256:" + data_hash.hexdigest(), size, OCI_LAYER_GZIP, "sha256:" + diff.hexdigest())
    with open(tarball, "rb") as f, open(out, "wb") as o:
        outer = HashWriter(o)
        inner_hash = hashlib.sha256()
        with gzip.GzipFile(fileobj=outer, mode="wb", mtime=0) as g:  # type: ignore[arg-type]
            while b := f.read(1 << 20):
                inner_hash.update(b)
                g.write(b)
    return Blob(out, "sha256:" + outer.hash.hexdigest(), outer.size, OCI_LAYER_GZIP,
                "sha256:" + inner_hash.hexdigest())


def image_config(layers: list[Blob], *, entrypoint: list[str] | None = None, cmd: list[str] | None = None,
                 env: list[str] | None = None, workdir: str = "", user: str = "",
                 platform: Platform | None = None) -> bytes:
    p = platform or host_platform()
    env = list(env or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    cfg: dict[str, Any] = {"Env": env}
    if entrypoint:
        cfg["Entrypoint"] = entrypoint
    if cmd:
        cfg["Cmd"] = cmd
    if workdir:
        cfg["WorkingDir"] = workdir
    if user:
        cfg["User"] = user
    doc: dict[str, Any] = {"architecture": p.architecture, "os": p.os, "config": cfg,
                           "rootfs": {"type": "layers", "diff_ids": [b.diff_id for b in layers]},
                           "history": [{"created_by": "tug image push"} for _ in layers]}
    if p.variant:
        doc["variant"] = p.variant
    return orjson.dumps(doc)


def image_manifest(config: bytes, layers: list[Blob]) -> bytes:
    return orjson.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                         "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
                         "layers": [b.descriptor() for b in layers]})


class Pusher:
    """Push to a reference's own registry (never a mirror). `insecure` = plain HTTP."""

    def __init__(self, client: RegistryClient, insecure: bool = False, chunk_size: int = 0):
        self.client = client
        self.insecure = insecure
        self.chunk_size = chunk_size

    def endpoint(self, ref: Reference) -> Endpoint:
        ep = self.client.config.default_endpoint(ref.domain)
        if self.insecure and ep.url.startswith("https://"):
            ep = _endpoint("http://" + ep.url[len("https://"):], False, [])
        return ep

    async def blob(self, ref: Reference, digest: str, body: bytes | Path) -> None:
        ep = self.endpoint(ref)
        if not await self.client.blob_exists(ep, ref.path, digest):
            await self.client.upload_blob(ep, ref.path, digest, body, chunk_size=self.chunk_size)

    async def manifest(self, ref: Reference, body: bytes, media_type: str) -> str:
        """PUT under the reference's tag (or digest); returns the manifest digest."""
        return await self.client.put_manifest(self.endpoint(ref), ref.path, ref.object, body, media_type)

    async def image(self, ref: Reference, layers: list[Blob], config: bytes) -> tuple[str, int]:
        """Push layers + config + manifest; returns (manifest digest, manifest size)."""
        for b in layers:
            await self.blob(ref, b.digest, b.path)
        await self.blob(ref, sha256_digest(config), config)
        body = image_manifest(config, layers)
        return await self.manifest(ref, body, OCI_MANIFEST), len(body)

    async def index(self, ref: Reference, manifests: list[tuple[str, int, Platform]]) -> str:
        """Push an OCI index over already-pushed manifests (digest, size, platform)."""
        descs = []
        for digest, size, p in manifests:
            plat = {"architecture": p.architecture, "os": p.os} | ({"variant": p.variant} if p.variant else {})
            descs.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": plat})
        body = orjson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})
        return await self.manifest(ref, body, OCI_INDEX)

    async def oci_layout(self, ref: Reference, layout: Path) -> str:
        """Push an OCI image layout directory: every blob its index reaches, then its manifest
        (or, for several, an index of them) under `ref`."""
        index = orjson.loads((layout / "index.json").read_bytes())
        descs = index.get("manifests") or []
        if not descs:
            raise ValueError(f"{layout}: index.json lists no manifests")

        async def push_tree(desc: dict[str, Any]) -> None:
            path = layout / "blobs" / desc["digest"].replace(":", "/")
            doc = orjson.loads(path.read_bytes())
            children = doc.get("manifests") or []
            for child in children:
                await push_tree(child)
                await self.manifest(ref.with_digest(child["digest"]), _blob(layout, child), child["mediaType"])
            for d in ([doc["config"]] if "config" in doc else []) + (doc.get("layers") or []):
                await self.blob(ref, d["digest"], layout / "blobs" / d["digest"].replace(":", "/"))

        for d in descs:
            await push_tree(d)
        if len(descs) == 1:
            return await self.manifest(ref, _blob(layout, descs[0]), descs[0]["mediaType"])
        for d in descs:
            await self.manifest(ref.with_digest(d["digest"]), _blob(layout, d), d["mediaType"])
        body = orjson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs})
        return await self.manifest(ref, body, OCI_INDEX)


def _blob(layout: Path, desc: dict[str, Any]) -> bytes:
    return (layout / "blobs" / desc["digest"].replace(":", "/")).read_bytes()


async def push_source(client: RegistryClient, source: str | Path, image: str, *, insecure: bool = False,
                      chunk_size: int = 0, **config: Any) -> str:
    """`tug image push`: SOURCE is a rootfs directory, a rootfs tarball or an OCI layout
    directory (it has `oci-layout`). Returns the pushed manifest digest."""
    ref = parse(image)
    src = Path(source)
    pusher = Pusher(client, insecure, chunk_size)
    if src.is_dir() and (src / "oci-layout").exists():
        return await pusher.oci_layout(ref, src)
    with tempfile.TemporaryDirectory(prefix="tug-push-") as tmp:
        out = Path(tmp) / "layer.tar.gz"
        if src.is_dir():
            layer = layer_from_dir(src, out)
        elif src.is_file():
            layer = layer_from_tar(src, out)
        else:
            raise FileNotFoundError(f"{src}: no such directory or file")
        digest, _ = await pusher.image(ref, [layer], image_config([layer], **config))
        return digest
