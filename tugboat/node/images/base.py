"""The image service contract between the image store and the runtime.

The image store (tugboat/node/images) pulls images over the OCI distribution API, keeps each
layer once by digest, and gives every container a root filesystem as an overlayfs mount over
the image's layers. The runc runtime only calls these methods; it never parses manifests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ImageConfig:
    """The parts of an OCI image config a container needs."""

    id: str  # config digest, "sha256:…" (what Kubernetes shows as imageID's digest part)
    ref: str  # the fully resolved reference it was pulled as, e.g. "127.0.0.1:5000/library/busybox:1.36"
    repo_digest: str = ""  # "<repo>@sha256:<manifest digest>" (containerStatuses[].imageID)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # "KEY=value"
    working_dir: str = ""
    user: str = ""
    size: int = 0


class PullError(Exception):
    """A pull failed; `reason` is what the pod shows (ErrImagePull, ErrImageNeverPull, …)."""

    def __init__(self, message: str, reason: str = "ErrImagePull"):
        super().__init__(message)
        self.reason = reason


class ImageService(Protocol):
    async def pull(self, image: str, *, auth: dict[str, str] | None = None) -> ImageConfig:
        """Resolve `image` through the registry config (mirrors, rewrites), fetch what is
        missing, verify digests; raise PullError. `auth`: {"username","password"} or
        {"auth": base64} or {"identitytoken"|"registrytoken"} from an imagePullSecret."""

    async def status(self, image: str) -> ImageConfig | None:
        """The image if it is present locally (no network), else None."""

    async def mount_rootfs(self, image: ImageConfig, container_id: str) -> str:
        """Create an overlay mount (image layers read-only + a per-container upper dir) and
        return the rootfs path. Idempotent per container_id."""

    async def unmount_rootfs(self, container_id: str) -> None:
        """Unmount and delete the container's upper/work dirs (idempotent)."""

    async def remove(self, image: str) -> None: ...

    async def garbage_collect(self, high_percent: int = 85, low_percent: int = 80) -> int:
        """Remove unused images while disk usage is above high_percent, down to low_percent;
        returns bytes freed."""
