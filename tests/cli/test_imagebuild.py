"""`tug image build` against a real registry: the image a Containerfile describes is what gets
pushed (config, layers, whiteouts), and `tug image ls` lists it."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.registry import Registry, make_layer_tar, push_busybox, running_registry
from tugboat.cli.image import add_image_parser, cmd_image
from tugboat.cli.imagebuild.cli import list_images
from tugboat.node.images.client import RegistryClient
from tugboat.node.images.reference import parse


def tug_image(*argv: str) -> int:
    p = argparse.ArgumentParser()
    add_image_parser(p.add_subparsers(dest="cmd"))
    return cmd_image(p.parse_args(["image", *argv]))


async def fetch(reg: Registry, ref: str) -> tuple[dict[str, Any], list[dict[str, tarfile.TarInfo | bytes]]]:
    """(image config, [{name: content or TarInfo} per layer]) of `ref` in `reg`."""
    client = RegistryClient(reg.config())
    try:
        r = parse(f"{reg.host}/{ref}")
        ep = client.config.default_endpoint(r.domain)
        body, _, _ = await client.get_manifest(ep, r.path, r.object)
        man = orjson.loads(body)
        blobs = []
        for d in [man["config"], *man["layers"]]:
            dest = reg.storage.parent / d["digest"].replace(":", "_")
            await client.fetch_blob(ep, r.path, d["digest"], dest, size=d["size"])
            blobs.append(dest.read_bytes())
    finally:
        await client.close()
    layers = []
    for raw in blobs[1:]:
        entries: dict[str, Any] = {}
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tf:
            for m in tf:
                entries[m.name] = tf.extractfile(m).read() if m.isreg() else m  # type: ignore[union-attr]
        layers.append(entries)
    return orjson.loads(blobs[0]), layers


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(text)
    return ctx


async def test_build_from_scratch_metadata_and_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = write(tmp_path / "ctx", {
        "Containerfile": (
            "# a comment\nARG VERSION=1.2\nFROM scratch\nARG VERSION\n"
            "ENV APP_HOME=/srv/app \\\n    MODE=\"prod mode\"\nENV GREETING hello world\n"
            "WORKDIR $APP_HOME\nCOPY --chown=1000:1000 site/ ./www/\nCOPY conf.txt /etc/app.conf\n"
            "ADD bundle.tar.gz /opt/\nLABEL org.opencontainers.image.version=${VERSION} team=web\n"
            "EXPOSE 8080 53/udp\nUSER 1000:1000\nENTRYPOINT [\"/bin/httpd\", \"-f\"]\nCMD -p 8080\n"),
        "site/index.html": "<h1>hi</h1>", "site/css/a.css": "body{}", "conf.txt": "x=1\n"})
    make_layer_tar(ctx / "bundle.tar.gz", [("tool/run.sh", "file", "#!/bin/sh\n")])
    async with running_registry() as reg:
        rc = await asyncio.to_thread(tug_image, "build", "-t", "web:1", "--registry", reg.host,
                                     "--build-arg", "VERSION=2.0", str(ctx))
        out = capsys.readouterr()
        assert rc == 0, out.err
        assert "STEP 4/14: ENV APP_HOME=/srv/app MODE=\"prod mode\"" in out.out
        assert f"{reg.host}/library/web:1: pushed sha256:" in out.out
        cfg, layers = await fetch(reg, "library/web:1")
        assert await list_images(reg.host) == {"library/web": ["1"]}
    c = cfg["config"]
    assert c["Env"][1:] == ["APP_HOME=/srv/app", "MODE=prod mode", "GREETING=hello world"]
    assert c["Env"][0].startswith("PATH=")
    assert c["WorkingDir"] == "/srv/app" and c["User"] == "1000:1000"
    assert c["Entrypoint"] == ["/bin/httpd", "-f"] and c["Cmd"] == ["/bin/sh", "-c", "-p 8080"]
    assert c["Labels"] == {"org.opencontainers.image.version": "2.0", "team": "web"}
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert len(layers) == 3 and len(cfg["rootfs"]["diff_ids"]) == 3
    assert [h.get("empty_layer", False) for h in cfg["history"]].count(False) == 3
    www, conf, bundle = layers
    assert www["srv/app/www/index.html"] == b"<h1>hi</h1>" and www["srv/app/www/css/a.css"] == b"body{}"
    assert "srv/app/www/site" not in www  # a directory's contents are copied, not the directory
    assert "srv" not in www and "srv/app" not in www  # parents are implicit: existing ones keep their mode
    info = www["srv/app/www/css"]
    assert isinstance(info, tarfile.TarInfo) and (info.uid, info.gid) == (1000, 1000)
    assert conf["etc/app.conf"] == b"x=1\n"
    assert bundle["opt/tool/run.sh"] == b"#!/bin/sh\n"  # ADD extracted the local archive


async def test_from_local_image_entrypoint_resets_inherited_cmd(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENTRYPOINT [\"sleep\"]\n"})
    async with running_registry() as reg:
        await push_busybox(reg, "library/busybox:latest")  # Cmd ["sh"]
        rc = await asyncio.to_thread(tug_image, "build", "-t", "sleeper", "--registry", reg.host, str(ctx))
        assert rc == 0, capsys.readouterr().err
        cfg, layers = await fetch(reg, "library/sleeper:latest")
    assert cfg["config"]["Entrypoint"] == ["sleep"] and "Cmd" not in cfg["config"]
    assert len(layers) == 1 and "bin/busybox" in layers[0]  # the base layer, reused as it is


@pytest.mark.parametrize("text,err", [
    ("RUN true\n", "before FROM"),
    ("FROM scratch\nFROM scratch\n", "multi-stage"),
    ("FROM scratch\nCOPY missing.txt /\n", "not found in the build context"),
    ("FROM scratch\nCOPY a.txt b.txt /dest\n", "must be a directory"),
    ("FROM scratch\nFROBNICATE x\n", "unknown instruction"),
    ("FROM scratch\nADD https://example.com/x /x\n", "URL is not supported"),
])
async def test_bad_containerfiles_fail_with_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     text: str, err: str) -> None:
    ctx = write(tmp_path / "ctx", {"Containerfile": text, "a.txt": "a", "b.txt": "b"})
    rc = await asyncio.to_thread(tug_image, "build", "-t", "127.0.0.1:9/x:1", str(ctx))
    assert rc == 1
    msg = capsys.readouterr().err
    assert err in msg and "line " in msg, msg


needs_root_runc = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/sbin/runc"),
                                     reason="RUN needs root and runc")


@needs_root_runc
async def test_run_changes_become_a_layer_with_whiteouts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = write(tmp_path / "ctx", {"Containerfile": (
        "FROM busybox\nARG WHO=builder\nWORKDIR /work\n"
        "RUN echo \"$WHO in $(pwd) as $(id -u)\" > out.txt && rm /etc/group && mkdir -p /var/new\n"
        "USER nobody\nRUN id -u > /tmp/uid\n")})
    async with running_registry() as reg:
        await push_busybox(reg, "library/busybox:latest")
        rc = await asyncio.to_thread(tug_image, "build", "-t", "ran", "--registry", reg.host, str(ctx))
        assert rc == 0, capsys.readouterr().err
        cfg, layers = await fetch(reg, "library/ran:latest")
    assert "WHO=builder" not in cfg["config"]["Env"]  # ARGs are not part of the image
    assert len(layers) == 3
    run1, run2 = layers[1], layers[2]
    assert run1["work/out.txt"] == b"builder in /work as 0\n"
    assert "etc/.wh.group" in run1 and "var/new" in run1
    assert not any(k.startswith(("proc", "sys", "dev")) for k in run1)  # runc's mount points stay out
    assert run2["tmp/uid"] == b"65534\n"


@needs_root_runc
async def test_failing_run_fails_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = write(tmp_path / "ctx", {"Containerfile": "FROM busybox\nRUN exit 3\n"})
    async with running_registry() as reg:
        await push_busybox(reg, "library/busybox:latest")
        rc = await asyncio.to_thread(tug_image, "build", "-t", "bad", "--registry", reg.host, str(ctx))
    assert rc == 1
    assert "non-zero code: 3" in capsys.readouterr().err
