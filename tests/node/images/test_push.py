"""`tug image push` from a directory, a tarball and an OCI layout, then pulled back."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
from pathlib import Path

import orjson

from tests.support.registry import build_busybox_rootfs, running_registry
from tugboat.cli.image import add_image_parser, cmd_image
from tugboat.node.images.push import image_config, image_manifest, layer_from_dir
from tugboat.node.images.service import LocalImageService


def tug_image(*argv: str) -> int:
    import argparse

    p = argparse.ArgumentParser()
    add_image_parser(p.add_subparsers(dest="cmd"))
    return cmd_image(p.parse_args(["image", *argv]))


async def pull(data_dir: Path, ref: str) -> tuple[LocalImageService, object]:
    svc = LocalImageService(data_dir)  # loopback registries speak plain HTTP by default
    return svc, await svc.pull(ref)


async def test_push_directory_with_config_flags(data_dir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rootfs = build_busybox_rootfs(tmp_path / "rootfs", {"srv/index.html": "hi"})
    async with running_registry() as reg:
        ref = f"{reg.host}/web:1"
        rc = await asyncio.to_thread(tug_image, "push", str(rootfs), ref, "--entrypoint", "httpd -f",
                                     "--cmd", '["-p", "8080"]', "--env", "A=1", "--workdir", "/srv",
                                     "--chunk-size", "65536")
        assert rc == 0, capsys.readouterr().err
        assert capsys.readouterr().out.startswith(f"{ref}: pushed sha256:")
        svc, img = await pull(data_dir, ref)
        try:
            assert img.entrypoint == ["httpd", "-f"] and img.cmd == ["-p", "8080"]  # type: ignore[attr-defined]
            assert "A=1" in img.env and img.working_dir == "/srv"  # type: ignore[attr-defined]
            root = Path(await svc.mount_rootfs(img, "p1"))  # type: ignore[arg-type]
            try:
                assert (root / "srv/index.html").read_text() == "hi"
            finally:
                await svc.unmount_rootfs("p1")
        finally:
            await svc.close()


async def test_push_tarball_and_oci_layout(data_dir: Path, tmp_path: Path) -> None:
    rootfs = build_busybox_rootfs(tmp_path / "rootfs", {"etc/from": "tar"})
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tf:
        tf.add(rootfs, arcname=".")
    # an OCI image layout, as other tools (umoci, skopeo, buildah) write it
    layout = tmp_path / "layout"
    blobs = layout / "blobs/sha256"
    blobs.mkdir(parents=True)
    (rootfs / "etc/from").write_text("layout")
    layer = layer_from_dir(rootfs, tmp_path / "l.tar.gz")
    shutil.copy(layer.path, blobs / layer.digest.split(":")[1])
    config = image_config([layer], cmd=["sh"])
    manifest = image_manifest(config, [layer])
    from tugboat.node.images.client import sha256_digest

    for doc in (config, manifest):
        (blobs / sha256_digest(doc).split(":")[1]).write_bytes(doc)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_bytes(orjson.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256_digest(manifest),
        "size": len(manifest)}]}))
    async with running_registry() as reg:
        assert await asyncio.to_thread(tug_image, "push", str(tarball), f"{reg.host}/fromtar:1") == 0
        assert await asyncio.to_thread(tug_image, "push", str(layout), f"{reg.host}/fromlayout:1") == 0
        svc = LocalImageService(data_dir)
        try:
            for name, want in (("fromtar", "tar"), ("fromlayout", "layout")):
                img = await svc.pull(f"{reg.host}/{name}:1")
                root = Path(await svc.mount_rootfs(img, name))
                try:
                    assert (root / "etc/from").read_text() == want
                    assert (root / "bin/busybox").stat().st_size > 100_000
                finally:
                    await svc.unmount_rootfs(name)
            assert img.repo_digest.endswith(sha256_digest(manifest))  # pushed byte for byte
        finally:
            await svc.close()


async def test_push_errors_are_reported(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert await asyncio.to_thread(tug_image, "push", str(tmp_path / "nope"), "127.0.0.1:9/x:1") == 1
    assert "no such directory or file" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    assert await asyncio.to_thread(tug_image, "push", str(tmp_path / "d"), "127.0.0.1:9/x:1") == 1
    assert "127.0.0.1:9" in capsys.readouterr().err
