"""imagePullPolicy semantics and imagePullSecret credential matching."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.registry import push_busybox, running_registry
from tugboat.node.images.base import PullError
from tugboat.node.images.policy import credentials_for, default_policy, ensure_image
from tugboat.node.images.service import LocalImageService


def docker_secret(auths: dict[str, dict[str, str]]) -> dict[str, Any]:
    raw = orjson.dumps({"auths": auths})
    return {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": base64.b64encode(raw).decode()}}


def test_default_policy() -> None:
    assert default_policy("busybox") == "Always"
    assert default_policy("busybox:latest") == "Always"
    assert default_policy("busybox:1.36") == "IfNotPresent"
    assert default_policy("busybox@sha256:" + "a" * 64) == "IfNotPresent"


async def test_pull_policies(data_dir: Path) -> None:
    async with running_registry(users={"carol": "pw"}) as reg:
        await push_busybox(reg, "app:v1")
        image = f"{reg.host}/app:v1"
        svc = LocalImageService(data_dir)  # no credentials configured: only the secret has them
        try:
            with pytest.raises(PullError) as e:
                await ensure_image(svc, image, "Never")
            assert e.value.reason == "ErrImageNeverPull"
            assert str(e.value) == f'Container image "{image}" is not present with pull policy of Never'
            wrong = {"username": "carol", "password": "nope"}
            right = {"auth": base64.b64encode(b"carol:pw").decode()}
            img, pulled = await ensure_image(svc, image, "IfNotPresent", [wrong, right])
            assert pulled and img.cmd == ["sh"]
            assert await ensure_image(svc, image, "IfNotPresent") == (img, False)  # no registry asked
            assert await ensure_image(svc, image, "Never") == (img, False)
            with pytest.raises(PullError, match="authorization"):
                await ensure_image(svc, image, "Always")  # Always asks the registry (anonymously here)
            assert (await ensure_image(svc, image, "Always", [right]))[1]
        finally:
            await svc.close()


def test_credentials_matching() -> None:
    secrets: list[dict[str, Any]] = [
        docker_secret({"https://index.docker.io/v1/": {"auth": "aHViOnB3"}}),
        docker_secret({"reg.example.com:5000": {"username": "u", "password": "p"},
                       "reg.example.com:5000/team": {"username": "team", "password": "t"},
                       "*.corp.example": {"username": "glob", "password": "g"}}),
        {"type": "Opaque", "data": {"x": "eHg="}},
    ]
    assert credentials_for("busybox", secrets) == [{"auth": "aHViOnB3"}]
    assert [c["username"] for c in credentials_for("reg.example.com:5000/team/app", secrets)] == ["team", "u"]
    assert [c["username"] for c in credentials_for("reg.example.com:5000/other", secrets)] == ["u"]
    assert credentials_for("reg.example.com/other", secrets) == []  # port must match
    assert [c["username"] for c in credentials_for("r.corp.example/x", secrets)] == ["glob"]
    assert credentials_for("a.b.corp.example/x", secrets) == []  # one label per *
