"""Image name normalisation (Docker/containerd rules) and registries.yaml semantics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tugboat.node.images.base import PullError
from tugboat.node.images.client import parse_challenge
from tugboat.node.images.platform import Platform, select
from tugboat.node.images.reference import parse
from tugboat.node.images.regconfig import RegistryConfig, normalise_credentials

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("image,want", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io/user/app:latest"),
    ("index.docker.io/library/nginx", "docker.io/library/nginx:latest"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1"),
    ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}"),
    (f"busybox:1.36@{D}", f"docker.io/library/busybox:1.36@{D}"),
    ("my_user/my-app__x", "docker.io/my_user/my-app__x:latest"),
])
def test_normalisation(image: str, want: str) -> None:
    assert str(parse(image)) == want


@pytest.mark.parametrize("image", ["", "Busybox", "busybox:", "busybox@sha256:short", "a//b", " busybox",
                                   "busybox:bad tag", "-lead/x", "host:notaport:/x"])
def test_invalid_names(image: str) -> None:
    with pytest.raises(PullError) as e:
        parse(image)
    assert e.value.reason == "InvalidImageName"


def test_digest_wins_over_tag() -> None:
    assert parse(f"busybox:1.36@{D}").object == D
    assert parse("busybox:1.36").object == "1.36"


def test_mirrors_endpoints_and_rewrites(tmp_path: Path) -> None:
    f = tmp_path / "registries.yaml"
    f.write_text("""
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example:8443/v2"]
    rewrite:
      "^library/(.*)": "mirror/$1"
      "^(.*)/(.*)$": "${2}-from-${1}"
  "*":
    endpoint: ["http://127.0.0.1:6000"]
configs:
  "127.0.0.1:5000":
    auth: {username: u, password: p}
  "mirror.example:8443":
    auth: {auth: "YTpi"}
    tls: {insecure_skip_verify: true}
""")
    cfg = RegistryConfig.load(f)
    eps = cfg.endpoints("docker.io")
    assert [e.url for e in eps] == ["http://127.0.0.1:5000", "https://mirror.example:8443",
                                    "https://registry-1.docker.io"]
    assert eps[0].repository("library/busybox") == "mirror/busybox"
    assert eps[0].repository("user/app") == "app-from-user"
    assert eps[2].repository("library/busybox") == "library/busybox"  # no rewrite on the registry itself
    assert [e.url for e in cfg.endpoints("quay.io")] == ["http://127.0.0.1:6000", "https://quay.io"]
    assert cfg.endpoints("127.0.0.1:7000")[-1].url == "http://127.0.0.1:7000"  # loopback: plain HTTP
    assert cfg.credentials("127.0.0.1:5000") == {"username": "u", "password": "p"}
    assert cfg.credentials("mirror.example:8443") == {"username": "a", "password": "b"}
    assert cfg.credentials("elsewhere") is None
    ctx = cfg.ssl_context("mirror.example:8443")
    assert ctx is not None and not ctx.check_hostname
    assert RegistryConfig.load(tmp_path / "absent.yaml").endpoints("docker.io")[0].url == "https://registry-1.docker.io"


def test_credentials_spellings() -> None:
    assert normalise_credentials({"identitytoken": "t"}) == {"identity_token": "t"}
    assert normalise_credentials({"registrytoken": "r"}) == {"registry_token": "r"}


def test_bearer_challenge_parsing() -> None:
    scheme, p = parse_challenge('Bearer realm="https://auth.example/token",service="reg",'
                                'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert p == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}


def test_platform_selection() -> None:
    ms = [{"digest": "arm", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
          {"digest": "arm64", "platform": {"os": "linux", "architecture": "arm64"}},
          {"digest": "win", "platform": {"os": "windows", "architecture": "amd64"}},
          {"digest": "amd64", "platform": {"os": "linux", "architecture": "amd64"}}]
    assert select(ms, Platform("linux", "amd64"))["digest"] == "amd64"  # type: ignore[index]
    assert select(ms, Platform("linux", "arm64", "v8"))["digest"] == "arm64"  # type: ignore[index]
    assert select(ms, Platform("linux", "arm", "v6")) is None
    assert select(ms, Platform("linux", "riscv64")) is None
    assert re.match(r"linux/\w+", str(Platform()))
