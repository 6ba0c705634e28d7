"""Which manifest of a multi-platform index this node runs: linux + the host's architecture
(GOARCH names) and variant, the way containerd's default platform matcher chooses."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

_ARCH = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
         "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
         "i386": ("386", ""), "i686": ("386", ""), "ppc64le": ("ppc64le", ""),
         "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    arch, variant = _ARCH.get(_platform.machine().lower(), (_platform.machine().lower(), ""))
    return Platform("linux", arch, variant)


def select(manifests: list[dict[str, Any]], want: Platform) -> dict[str, Any] | None:
    """The best descriptor for `want`: an exact variant match beats an unspecified variant
    (arm64's "v8" is the default and matches none); other platforms never match."""
    best: tuple[int, dict[str, Any]] | None = None
    for i, d in enumerate(manifests):
        p = d.get("platform") or {}
        if p.get("os", "") != want.os or p.get("architecture", "") != want.architecture:
            continue
        v = p.get("variant", "")
        if v == want.variant:
            score = 0
        elif not v or not want.variant:
            score = 1
        else:
            continue
        if best is None or (score, i) < (best[0], manifests.index(best[1])):
            best = (score, d)
    return best[1] if best else None
