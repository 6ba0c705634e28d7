"""Container root filesystems as overlay mounts over shared layers, removal and image GC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.registry import make_layer_tar, push_busybox, push_layers, running_registry
from tugboat.node.images import overlay
from tugboat.node.images.base import PullError
from tugboat.node.images.service import LocalImageService


def mounted_under(path: Path) -> list[str]:
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(path))]


async def test_overlay_rootfs_writes_go_to_upper_only(data_dir: Path) -> None:
    async with running_registry() as reg:
        await push_busybox(reg, "library/busybox:latest", extra_files={"etc/motd": "hello"})
        svc = LocalImageService(data_dir, reg.config())
        try:
            img = await svc.pull(f"{reg.host}/library/busybox")
            root = Path(await svc.mount_rootfs(img, "c1"))
            assert root == data_dir / "containers/c1/rootfs"
            assert await svc.mount_rootfs(img, "c1") == str(root)  # idempotent
            assert (root / "etc/motd").read_text() == "hello"
            assert os.readlink(root / "bin/sh") == "busybox"
            (root / "etc/motd").write_text("changed")
            (root / "tmp/new").write_text("n")
            (root / "etc/passwd").unlink()
            layer = next((data_dir / "images/layers").iterdir())
            assert (layer / "etc/motd").read_text() == "hello"  # the shared layer is untouched
            assert (layer / "etc/passwd").exists()
            upper = data_dir / "containers/c1/overlay/upper"
            assert (upper / "etc/motd").read_text() == "changed" and (upper / "tmp/new").exists()
            # a second container over the same image sees the image, not c1's writes
            root2 = Path(await svc.mount_rootfs(img, "c2"))
            assert (root2 / "etc/motd").read_text() == "hello" and not (root2 / "tmp/new").exists()
            assert len(mounted_under(data_dir)) == 2
            await svc.unmount_rootfs("c1")
            await svc.unmount_rootfs("c2")
            await svc.unmount_rootfs("c2")  # idempotent
            assert mounted_under(data_dir) == []
            assert not (data_dir / "containers/c1").exists()
        finally:
            await svc.close()


async def test_whiteouts_delete_lower_files_in_the_rootfs(data_dir: Path, tmp_path: Path) -> None:
    base = make_layer_tar(tmp_path / "base.tar.gz", [
        ("etc/", "dir", ""), ("etc/keep", "file", "k"), ("etc/gone", "file", "g"),
        ("cache/", "dir", ""), ("cache/old1", "file", "1"), ("cache/old2", "file", "2"),
    ])
    top = make_layer_tar(tmp_path / "top.tar.gz", [
        ("etc/", "dir", ""), ("etc/.wh.gone", "file", ""),
        ("cache/", "dir", ""), ("cache/.wh..wh..opq", "file", ""), ("cache/fresh", "file", "f"),
    ])
    async with running_registry() as reg:
        await push_layers(reg, "layered:v1", [base, top], cmd=["/bin/true"])
        svc = LocalImageService(data_dir, reg.config())
        try:
            img = await svc.pull(f"{reg.host}/layered:v1")
            root = Path(await svc.mount_rootfs(img, "w1"))
            try:
                assert sorted(os.listdir(root / "etc")) == ["keep"]
                assert sorted(os.listdir(root / "cache")) == ["fresh"]
            finally:
                await svc.unmount_rootfs("w1")
        finally:
            await svc.close()


async def test_gc_frees_unused_images_but_never_mounted_ones(data_dir: Path, tmp_path: Path) -> None:
    a = make_layer_tar(tmp_path / "a.tar.gz", [("a", "file", "A" * 5000)])
    b = make_layer_tar(tmp_path / "b.tar.gz", [("b", "file", "B" * 5000)])
    async with running_registry() as reg:
        await push_layers(reg, "used:v1", [a])
        await push_layers(reg, "unused:v1", [b])
        svc = LocalImageService(data_dir, reg.config(), min_gc_age=0)
        try:
            used = await svc.pull(f"{reg.host}/used:v1")
            await svc.pull(f"{reg.host}/unused:v1")
            await svc.mount_rootfs(used, "u1")
            # below the high threshold: nothing happens
            assert await svc.garbage_collect(high_percent=100, low_percent=100) == 0
            assert await svc.status(f"{reg.host}/unused:v1") is not None
            freed = await svc.garbage_collect(high_percent=0, low_percent=0)
            assert freed >= 5000
            assert await svc.status(f"{reg.host}/unused:v1") is None
            assert await svc.status(f"{reg.host}/used:v1") is not None
            assert len(os.listdir(data_dir / "images/layers")) == 1
            # a removed image's layers stay while a container still uses them
            await svc.remove(f"{reg.host}/used:v1")
            assert await svc.status(f"{reg.host}/used:v1") is None
            assert (data_dir / "containers/u1/rootfs/a").read_text() == "A" * 5000
            with pytest.raises(PullError, match="not present"):
                await svc.mount_rootfs(used, "u2")
            await svc.unmount_rootfs("u1")
            await svc.garbage_collect(high_percent=0, low_percent=0)
            assert os.listdir(data_dir / "images/layers") == []
            assert os.listdir(data_dir / "images/blobs/sha256") == []
        finally:
            await svc.close()


async def test_gc_respects_thresholds_and_lru(data_dir: Path, tmp_path: Path) -> None:
    layers = [make_layer_tar(tmp_path / f"{n}.tar.gz", [(n, "file", n * 1000)]) for n in "xyz"]
    async with running_registry() as reg:
        for n, layer in zip("xyz", layers, strict=True):
            await push_layers(reg, f"{n}:v1", [layer])
        usage = {"used": 90}
        svc = LocalImageService(data_dir, reg.config(), min_gc_age=0,
                                disk_usage=lambda _p: (100, 100 - usage["used"]))
        try:
            for n in "xyz":
                await svc.pull(f"{reg.host}/{n}:v1")
            svc.store.images[svc.store.refs[f"{reg.host}/y:v1"]]["lastUsed"] = 0  # least recently used
            # 90% used, high 85, low 80: free ~10 units; the first (LRU) victim frees more than that
            await svc.garbage_collect(85, 80)
            assert await svc.status(f"{reg.host}/y:v1") is None
            assert await svc.status(f"{reg.host}/x:v1") is not None
            assert await svc.status(f"{reg.host}/z:v1") is not None
            usage["used"] = 50
            assert await svc.garbage_collect(85, 80) == 0
        finally:
            await svc.close()


def test_mountpoint_parsing_handles_spaces() -> None:
    assert overlay._unescape("/a\\040b") == "/a b"
