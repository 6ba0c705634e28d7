"""The local registry of `tug server`: a real docker-registry from the files LocalRegistry
writes, the agent's registries.yaml mirroring docker.io to it, and Docker Hub names pushed there."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.registry import build_busybox_rootfs
from tugboat.cli.imagebuild.cli import list_images
from tugboat.cli.registry import LocalRegistry, merge_mirror, push_target, wait_ready
from tugboat.node.images.regconfig import RegistryConfig


def test_push_target_sends_docker_hub_names_to_the_local_registry() -> None:
    assert push_target("busybox", "127.0.0.1:5000") == "127.0.0.1:5000/library/busybox:latest"
    assert push_target("docker.io/me/web:2", "127.0.0.1:5000") == "127.0.0.1:5000/me/web:2"
    assert push_target("quay.io/x/y:1", "127.0.0.1:5000") == "quay.io/x/y:1"
    assert push_target("busybox", "") == "busybox"


def test_merge_keeps_the_users_mirrors_first() -> None:
    user: dict[str, Any] = {"mirrors": {"docker.io": {"endpoint": ["https://mirror.example"]}},
            "configs": {"mirror.example": {"auth": {"username": "u", "password": "p"}}}}
    merged = merge_mirror(user, "http://127.0.0.1:5000", 5000)
    assert merged["mirrors"]["docker.io"]["endpoint"] == ["https://mirror.example", "http://127.0.0.1:5000"]
    assert merged["configs"] == user["configs"]
    assert user["mirrors"]["docker.io"]["endpoint"] == ["https://mirror.example"]  # input untouched
    eps = RegistryConfig(merged).endpoints("docker.io")
    assert [e.url for e in eps] == ["https://mirror.example", "http://127.0.0.1:5000", "https://registry-1.docker.io"]
    assert [e.url for e in RegistryConfig(merged).endpoints("localhost:5000")][0] == "http://127.0.0.1:5000"


def test_missing_reports_a_taken_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        reg = LocalRegistry(tmp_path, s.getsockname()[1], binary="/bin/true")
        assert "is in use" in reg.missing()
    assert "not found" in LocalRegistry(tmp_path, 0, binary="/nonexistent").missing()


@pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="docker-registry not installed")
async def test_the_configured_registry_serves_pushed_images(tmp_path: Path) -> None:
    from tests.cli.test_imagebuild import tug_image

    reg = LocalRegistry(tmp_path / "data", 0)
    reg.write_config()
    (tmp_path / "data" / "registries.yaml").write_text("configs: {}\n")
    agent_cfg = yaml.safe_load(reg.write_agent_config(tmp_path / "data" / "registries.yaml").read_text())
    assert agent_cfg["mirrors"]["docker.io"]["endpoint"] == [reg.url]
    proc = subprocess.Popen(reg.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert await wait_ready(reg.url, 15)
        rootfs = build_busybox_rootfs(tmp_path / "rootfs")
        assert await asyncio.to_thread(tug_image, "push", str(rootfs), "busybox", "--registry", reg.host) == 0
        assert await list_images(reg.host) == {"library/busybox": ["latest"]}
        assert (reg.dir / "storage" / "docker/registry/v2/repositories/library/busybox").is_dir()
    finally:
        proc.terminate()
        proc.wait(10)
