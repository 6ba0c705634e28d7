"""Pulling from a real registry (Debian's docker-registry on loopback): tags, digests, digest
verification, multi-platform indexes, mirrors with rewrites, basic auth, layer sharing."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest

from tests.support.registry import Registry, build_busybox_rootfs, push_busybox, push_rootfs, running_registry
from tugboat.node.images.base import PullError
from tugboat.node.images.client import RegistryClient
from tugboat.node.images.platform import Platform, host_platform
from tugboat.node.images.push import Pusher
from tugboat.node.images.reference import parse
from tugboat.node.images.regconfig import RegistryConfig
from tugboat.node.images.service import LocalImageService


def service(data_dir: Path, reg: Registry | None = None, cfg: RegistryConfig | None = None) -> LocalImageService:
    return LocalImageService(data_dir, cfg or (reg.config() if reg else RegistryConfig()), min_gc_age=0)


async def test_pull_by_tag_and_digest(data_dir: Path) -> None:
    async with running_registry() as reg:
        digest = await push_busybox(reg, "library/busybox:1.36", env=["GREETING=hi"], workdir="/root")
        svc = service(data_dir, reg)
        try:
            assert await svc.status(f"{reg.host}/library/busybox:1.36") is None
            img = await svc.pull(f"{reg.host}/library/busybox:1.36")
            assert img.ref == f"{reg.host}/library/busybox:1.36"
            assert img.repo_digest == f"{reg.host}/library/busybox@{digest}"
            assert img.cmd == ["sh"] and "GREETING=hi" in img.env and img.working_dir == "/root"
            assert img.id.startswith("sha256:") and img.size > 500_000
            # present locally now, no network needed
            assert (await svc.status(f"{reg.host}/library/busybox:1.36")) == img
            by_digest = await svc.pull(f"{reg.host}/library/busybox@{digest}")
            assert by_digest.id == img.id
            assert (await svc.status(f"{reg.host}/library/busybox@{digest}")) is not None
            assert (await svc.status(img.id)) is not None
            layer_dirs = os.listdir(data_dir / "images/layers")
            assert len(layer_dirs) == 1
            assert os.path.islink(data_dir / "images/layers" / layer_dirs[0] / "bin/sh")
            assert not os.listdir(data_dir / "images/tmp")  # no partial downloads left
        finally:
            await svc.close()


async def test_missing_image_is_a_clear_error(data_dir: Path) -> None:
    async with running_registry() as reg:
        svc = service(data_dir, reg)
        try:
            with pytest.raises(PullError) as e:
                await svc.pull(f"{reg.host}/library/nothing:here")
            assert e.value.reason == "ErrImagePull"
            assert f'"{reg.host}/library/nothing:here": {reg.host}/library/nothing:here: not found' in str(e.value)
            with pytest.raises(PullError) as e:
                await svc.pull("UPPER/case")
            assert e.value.reason == "InvalidImageName"
        finally:
            await svc.close()
    # the fixture stopped the registry by pid and removed its storage
    assert not os.path.exists(f"/proc/{reg.pid}") and not reg.storage.exists()


async def test_corrupt_blob_is_refused(data_dir: Path) -> None:
    async with running_registry() as reg:
        await push_busybox(reg, "library/busybox:latest")
        # flip bytes in every layer-sized blob in the registry's storage, keeping the size
        for blob in (reg.storage / "docker/registry/v2/blobs/sha256").glob("*/*/data"):
            if blob.stat().st_size > 100_000:
                data = bytearray(blob.read_bytes())
                data[5000:5010] = b"x" * 10
                blob.write_bytes(bytes(data))
        svc = service(data_dir, reg)
        try:
            with pytest.raises(PullError, match="digest"):
                await svc.pull(f"{reg.host}/library/busybox")
            assert await svc.status(f"{reg.host}/library/busybox") is None
            assert not os.listdir(data_dir / "images/layers")
            assert not os.listdir(data_dir / "images/tmp")
        finally:
            await svc.close()


async def test_index_selects_this_platform(data_dir: Path) -> None:
    here = host_platform()
    other = Platform("linux", "s390x" if here.architecture != "s390x" else "amd64")
    async with running_registry() as reg:
        client = RegistryClient(reg.config())
        try:
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                build_busybox_rootfs(a, {"etc/arch": "native"})
                build_busybox_rootfs(b, {"etc/arch": "other"})
                d_other, s_other = await push_rootfs(reg, "multi:other", b, platform=other, client=client)
                d_here, s_here = await push_rootfs(reg, "multi:here", a, platform=here, client=client)
            ref = parse(f"{reg.host}/multi:latest")
            index = await Pusher(client).index(ref, [(d_other, s_other, other), (d_here, s_here, here)])
            lonely = await Pusher(client).index(parse(f"{reg.host}/multi:foreign"), [(d_other, s_other, other)])
        finally:
            await client.close()
        svc = service(data_dir, reg)
        try:
            img = await svc.pull(f"{reg.host}/multi:latest")
            assert img.repo_digest == f"{reg.host}/multi@{index}"  # imageID is the index digest
            root = await svc.mount_rootfs(img, "c-multi")
            try:
                assert Path(root, "etc/arch").read_text() == "native"
            finally:
                await svc.unmount_rootfs("c-multi")
            with pytest.raises(PullError, match=f"no match for platform {here}"):
                await svc.pull(f"{reg.host}/multi:foreign")
            assert lonely
        finally:
            await svc.close()


async def test_mirror_with_rewrite_resolves_docker_hub_names(data_dir: Path) -> None:
    async with running_registry() as reg:
        await push_busybox(reg, "mirror/busybox:latest")
        cfg = RegistryConfig({"mirrors": {"docker.io": {"endpoint": [f"http://{reg.host}"],
                                                        "rewrite": {"^library/(.*)": "mirror/$1"}}}})
        svc = service(data_dir, cfg=cfg)
        try:
            img = await svc.pull("busybox")
            assert img.ref == "docker.io/library/busybox:latest"
            assert img.repo_digest.startswith("docker.io/library/busybox@sha256:")
            assert await svc.status("docker.io/library/busybox:latest") == img
            assert await svc.status("busybox:latest") == img
        finally:
            await svc.close()


async def test_unreachable_default_endpoint_fails_clearly(data_dir: Path) -> None:
    # a mirror that is down, then registry-1.docker.io (unreachable here): a PullError, not a hang
    cfg = RegistryConfig({"mirrors": {"docker.io": {"endpoint": ["http://127.0.0.1:9"]}}})
    svc = LocalImageService(data_dir, cfg)
    svc.client.retries = 1
    svc.client.timeout = __import__("aiohttp").ClientTimeout(total=5, sock_connect=2)
    try:
        with pytest.raises(PullError, match='failed to pull and unpack image "docker.io/library/busybox:latest"'):
            await svc.pull("busybox")
    finally:
        await svc.close()


async def test_basic_auth(data_dir: Path) -> None:
    async with running_registry(users={"alice": "s3cret"}) as reg:
        await push_busybox(reg, "private/app:v1")
        anon = service(data_dir, cfg=RegistryConfig())
        try:
            with pytest.raises(PullError, match="authorization"):
                await anon.pull(f"{reg.host}/private/app:v1")
        finally:
            await anon.close()
        svc = service(data_dir, reg)  # credentials from registries.yaml configs
        try:
            assert (await svc.pull(f"{reg.host}/private/app:v1")).cmd == ["sh"]
        finally:
            await svc.close()
        # credentials from an imagePullSecret (docker config "auth" = base64(user:password))
        with tempfile.TemporaryDirectory() as d2:
            svc2 = service(Path(d2), cfg=RegistryConfig())
            try:
                img = await svc2.pull(f"{reg.host}/private/app:v1", auth={"auth": "YWxpY2U6czNjcmV0"})
                assert img.cmd == ["sh"]
                with pytest.raises(PullError):
                    await svc2.pull(f"{reg.host}/private/app:v1", auth={"username": "alice", "password": "no"})
            finally:
                await svc2.close()


async def test_layers_stored_once_and_concurrent_pulls_share_downloads(data_dir: Path) -> None:
    async with running_registry() as reg:
        with tempfile.TemporaryDirectory() as root:
            build_busybox_rootfs(root)
            await push_rootfs(reg, "one:v1", root, cmd=["sh"])
            await push_rootfs(reg, "two:v1", root, cmd=["echo", "two"])  # same layer, other config
        svc = service(data_dir, reg)
        fetched: list[str] = []
        orig = svc.client.fetch_blob

        async def counting(ep, repo, digest, dest, **kw):  # type: ignore[no-untyped-def]
            fetched.append(digest)
            await orig(ep, repo, digest, dest, **kw)

        svc.client.fetch_blob = counting  # type: ignore[method-assign]
        try:
            imgs = await asyncio.gather(svc.pull(f"{reg.host}/one:v1"), svc.pull(f"{reg.host}/one:v1"),
                                        svc.pull(f"{reg.host}/two:v1"))
            assert imgs[0] == imgs[1] and imgs[0].id != imgs[2].id
            assert len(os.listdir(data_dir / "images/layers")) == 1
            assert len(fetched) == len(set(fetched)) == 3, fetched  # one layer + two configs, nothing twice
        finally:
            await svc.close()


async def test_bearer_token_flow(data_dir: Path) -> None:
    """The registry answers 401 with `Bearer realm=…,service=…,scope=…`; the client gets a token
    from the realm with the configured credentials and retries (as for Docker Hub)."""
    async with running_registry(users={"bob": "pw"}, token_auth=True) as reg:
        digest = await push_busybox(reg, "team/app:v1")  # the push went through the token flow too
        svc = service(data_dir, reg)
        try:
            img = await svc.pull(f"{reg.host}/team/app:v1")
            assert img.repo_digest.endswith(digest)
        finally:
            await svc.close()
        with tempfile.TemporaryDirectory() as d2:
            anon = service(Path(d2), cfg=RegistryConfig())
            try:
                with pytest.raises(PullError, match="authorization"):
                    await anon.pull(f"{reg.host}/team/app:v1")
            finally:
                await anon.close()
