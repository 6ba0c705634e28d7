"""`LocalImageService`: the node's ImageService (see base.py) over the on-disk store.

Container root filesystems are overlay mounts at DATA_DIR/containers/<id>/rootfs with the
image's layers as read-only lower dirs and DATA_DIR/containers/<id>/overlay/{upper,work} for
the container's writes — so DATA_DIR/containers/<id> can serve as the runc bundle directory
(config.json's root.path = "rootfs"). overlay/image.json records which image and layers a
container uses, which is how image GC (and an agent restarted after a crash) knows what is
in use without any other state.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tugboat.node.images import overlay
from tugboat.node.images.base import ImageConfig, PullError
from tugboat.node.images.client import RegistryClient
from tugboat.node.images.platform import Platform, host_platform
from tugboat.node.images.pull import Puller
from tugboat.node.images.reference import parse
from tugboat.node.images.regconfig import RegistryConfig
from tugboat.node.images.store import ImageStore, to_config


def _statvfs_usage(path: str) -> tuple[int, int]:
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


class LocalImageService:
    def __init__(self, data_dir: str | Path, registry_config: RegistryConfig | str | Path | None = None, *,
                 client: RegistryClient | None = None, platform: Platform | None = None,
                 min_gc_age: float = 120.0,
                 disk_usage: Callable[[str], tuple[int, int]] = _statvfs_usage):
        self.data_dir = Path(data_dir)
        self.store = ImageStore(self.data_dir / "images")
        self.containers = self.data_dir / "containers"
        self.containers.mkdir(parents=True, exist_ok=True)
        self._empty_layer = self.store.root / "empty"
        self._empty_layer.mkdir(exist_ok=True)
        if not isinstance(registry_config, RegistryConfig):
            registry_config = RegistryConfig.load(registry_config)
        self.client = client or RegistryClient(registry_config)
        self.puller = Puller(self.store, self.client, platform or host_platform())
        self.min_gc_age = min_gc_age  # kubelet's ImageMinimumGCAge
        self.disk_usage = disk_usage  # (capacity, available) in bytes of the image filesystem
        self._inflight: dict[str, asyncio.Future[ImageConfig]] = {}
        self._gc_lock = asyncio.Lock()
        self._pulls = 0

    async def close(self) -> None:
        await self.client.close()

    # --- pull / status ---------------------------------------------------------------------
    async def pull(self, image: str, *, auth: dict[str, str] | None = None) -> ImageConfig:
        ref = parse(image)
        key = str(ref)
        fut = self._inflight.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._pull(ref, auth))
            self._inflight[key] = fut
            fut.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(fut)

    async def _pull(self, ref: Any, auth: dict[str, str] | None) -> ImageConfig:
        async with self._gc_lock:
            self._pulls += 1
        try:
            rec = await self.puller.pull(ref, auth)
        finally:
            self._pulls -= 1
        refs = rec["repoTags"] + rec["repoDigests"] + ([str(ref)] if ref.digest else [])
        self.store.add(rec, refs)
        return self._config(self.store.images[rec["id"]], str(ref))

    def _config(self, rec: dict[str, Any], ref: str) -> ImageConfig:
        cfg = to_config(rec, ref)
        repo = ref.split("@")[0].rsplit(":", 1)[0] if "/" in ref else ""
        for rd in rec.get("repoDigests", []):
            if rd.startswith(repo + "@"):
                cfg.repo_digest = rd
        return cfg

    def _lookup(self, image: str) -> tuple[dict[str, Any] | None, str]:
        if image.startswith("sha256:"):
            return self.store.images.get(image), image
        ref = parse(image)
        key = str(ref)
        rec = self.store.lookup(key)
        if rec is None and ref.digest and ref.tag:
            key = str(ref.with_digest(ref.digest))
            rec = self.store.lookup(key)
        return rec, key

    async def status(self, image: str) -> ImageConfig | None:
        rec, key = self._lookup(image)
        if rec is None or not all(self.store.has_layer(d) for d in rec["layers"]):
            return None
        return self._config(rec, key)

    def list_images(self) -> list[ImageConfig]:
        return [self._config(r, "") for r in self.store.images.values()]

    def node_images(self) -> list[dict[str, Any]]:
        """Node status `images`: names (repo digests, then tags) and sizeBytes, largest first."""
        out = [{"names": r["repoDigests"] + r["repoTags"], "sizeBytes": r.get("size", 0)}
               for r in self.store.images.values()]
        return sorted(out, key=lambda i: -i["sizeBytes"])

    # --- container root filesystems --------------------------------------------------------
    def rootfs_path(self, container_id: str) -> Path:
        return self.containers / container_id / "rootfs"

    async def mount_rootfs(self, image: ImageConfig, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise ValueError(f"bad container id {container_id!r}")
        cdir = self.containers / container_id
        rootfs, ov = cdir / "rootfs", cdir / "overlay"
        if overlay.is_mounted(str(rootfs)):
            return str(rootfs)
        async with self._gc_lock:  # GC must see the image as in use before we rely on its layers
            rec = self.store.images.get(image.id)
            if rec is None or not all(self.store.has_layer(d) for d in rec["layers"]):
                raise PullError(f"image {image.ref or image.id} is not present on this node")
            for d in (rootfs, ov / "upper", ov / "work"):
                d.mkdir(parents=True, exist_ok=True)
            (ov / "image.json").write_bytes(orjson.dumps({"image": image.id, "layers": rec["layers"]}))
            lower = [str(self.store.layer_path(d)) for d in reversed(rec["layers"])] or [str(self._empty_layer)]
            overlay.mount_overlay(str(rootfs), lower, str(ov / "upper"), str(ov / "work"))
            self.store.touch(image.id)
        return str(rootfs)

    async def unmount_rootfs(self, container_id: str) -> None:
        cdir = self.containers / container_id
        if not container_id or "/" in container_id or not cdir.exists():
            return
        overlay.unmount(str(cdir / "rootfs"))
        await asyncio.to_thread(shutil.rmtree, cdir / "overlay", True)
        for d in (cdir / "rootfs", cdir):
            try:
                d.rmdir()
            except OSError:
                pass  # the runtime may still keep its own files in the container dir

    def _in_use(self) -> tuple[set[str], set[str]]:
        """(image ids, layer diff-ids) of mounted or not-yet-unmounted container rootfs."""
        images: set[str] = set()
        layers: set[str] = set()
        for p in self.containers.glob("*/overlay/image.json"):
            try:
                d = orjson.loads(p.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            images.add(d.get("image", ""))
            layers.update(d.get("layers") or [])
        return images, layers

    # --- removal and GC --------------------------------------------------------------------
    async def remove(self, image: str) -> None:
        """Forget the image; its layers go at once unless a container still uses them (then
        with the GC after that container is gone)."""
        async with self._gc_lock:
            rec, _ = self._lookup(image)
            if rec is None:
                return
            self.store.forget(rec["id"])
            await self._sweep()

    async def _sweep(self) -> int:
        _, layers = self._in_use()
        if self._pulls:
            return 0  # a pull in flight may be about to record blobs that look unreferenced
        return await asyncio.to_thread(self.store.sweep, layers)

    async def garbage_collect(self, high_percent: int = 85, low_percent: int = 80) -> int:
        """kubelet's image GC: above high_percent disk usage, free least-recently-used images
        not used by any container (and older than min_gc_age) until usage is low_percent."""
        async with self._gc_lock:
            if self._pulls:
                return 0  # next round: a pull in flight may share content with a victim
            capacity, available = self.disk_usage(str(self.store.root))
            if capacity <= 0 or (capacity - available) * 100 < high_percent * capacity:
                return 0
            to_free = capacity * (100 - low_percent) // 100 - available
            in_use, _ = self._in_use()
            now = time.time()
            victims = sorted((r for r in self.store.images.values()
                              if r["id"] not in in_use and now - r.get("lastUsed", 0) >= self.min_gc_age),
                             key=lambda r: r.get("lastUsed", 0))
            freed = await self._sweep()  # content left by removed images or interrupted pulls
            for rec in victims:
                if freed >= to_free:
                    break
                self.store.forget(rec["id"])
                freed += await self._sweep()
            return freed
