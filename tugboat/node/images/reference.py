"""Image reference parsing and normalisation, as Docker and containerd do it.

Pods say `busybox`, `user/app:1.2` or `127.0.0.1:5000/app@sha256:…`; the store, the registry
config (mirrors are keyed by registry host) and the pod status all need the one canonical form
`docker.io/library/busybox:latest`. The rules are distribution/reference's: the first path
component is a registry host only if it contains "." or ":" or is "localhost"; Docker Hub's
official images live under "library/"; the tag defaults to "latest" unless a digest is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tugboat.node.images.base import PullError

DOCKER_HUB = "docker.io"
_LEGACY_HUB = ("index.docker.io", "registry-1.docker.io")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_DOMAIN = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.?)+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    domain: str  # registry host[:port], "docker.io" for Docker Hub
    path: str  # repository path inside the registry, "library/busybox"
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest wins over the tag."""
        return self.digest or self.tag

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, "", digest)

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def invalid(image: str, why: str = "invalid reference format") -> PullError:
    return PullError(f'couldn\'t parse image name "{image}": {why}', reason="InvalidImageName")


def parse(image: str) -> Reference:
    """Parse and normalise `image`; raise PullError(reason="InvalidImageName") if malformed."""
    s = image.strip()
    if not s or s != image or any(c.isspace() for c in s):
        raise invalid(image)
    digest = ""
    if "@" in s:
        s, digest = s.split("@", 1)
        if not _DIGEST.match(digest):
            raise invalid(image)
    tag = ""
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1:]
        if not _TAG.match(tag):
            raise invalid(image)
    first, sep, rest = s.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
        if not _DOMAIN.match(domain):
            raise invalid(image)
    else:
        domain, path = DOCKER_HUB, s
    if domain in _LEGACY_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if not path:
        raise invalid(image)
    for comp in path.split("/"):
        if not _COMPONENT.match(comp):
            if comp.lower() != comp and _COMPONENT.match(comp.lower()):
                raise invalid(image, "repository name must be lowercase")
            raise invalid(image)
    if not tag and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def is_local_host(domain: str) -> bool:
    """containerd's rule: loopback registries are spoken to over plain HTTP by default."""
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain.split("]")[0] + "]"
    return host in ("localhost", "[::1]", "::1") or host.startswith("127.")
