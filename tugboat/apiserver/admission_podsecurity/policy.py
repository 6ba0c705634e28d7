"""Which Pod Security level applies: namespace labels, defaults, exemptions.

A namespace opts in with `pod-security.kubernetes.io/<mode>: privileged|baseline|restricted`
and optionally `pod-security.kubernetes.io/<mode>-version: latest|v1.N` for each mode (enforce,
audit, warn). Unlabelled modes fall back to the cluster defaults (privileged:latest unless
configured). A malformed label makes that mode restricted:latest (fail closed) when evaluating,
and is refused when written to a namespace (upstream's namespace validation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
LEVELS = ("privileged", "baseline", "restricted")
_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
_RANK = {lv: i for i, lv in enumerate(LEVELS)}


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    def stricter_than(self, other: LevelVersion) -> bool:
        return _RANK[self.level] > _RANK[other.level]


@dataclass
class PodSecurityConfig:
    """Cluster defaults and exemptions (upstream's PodSecurityConfiguration)."""

    enforce: str = "privileged"
    enforce_version: str = "latest"
    audit: str = "privileged"
    audit_version: str = "latest"
    warn: str = "privileged"
    warn_version: str = "latest"
    exempt_usernames: tuple[str, ...] = ()
    exempt_runtime_classes: tuple[str, ...] = ()
    exempt_namespaces: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def default(self, mode: str) -> LevelVersion:
        return LevelVersion(getattr(self, mode), getattr(self, f"{mode}_version"))


def label_errors(labels: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label key, value, detail) for every malformed pod-security label."""
    out = []
    for mode in MODES:
        key = PREFIX + mode
        if key in labels and labels[key] not in LEVELS:
            out.append((key, str(labels[key]), 'must be one of privileged, baseline, restricted'))
        vkey = f"{key}-version"
        if vkey in labels and labels[vkey] != "latest" and not _VERSION.match(str(labels[vkey])):
            out.append((vkey, str(labels[vkey]), 'must be "latest" or "v1.x"'))
    return out


def policy_for(labels: dict[str, Any] | None, cfg: PodSecurityConfig) -> dict[str, LevelVersion]:
    """upstream PolicyToEvaluate: labels over defaults; a bad enforce level is restricted (fail
    closed), a bad audit/warn level privileged (fail open), a bad version latest; an unset warn
    level follows a stricter explicit enforce level (and its version unless warn-version is set)."""
    labels = labels or {}
    out: dict[str, LevelVersion] = {}
    for mode in MODES:
        d = cfg.default(mode)
        level, version = d.level, d.version
        if PREFIX + mode in labels:
            level = str(labels[PREFIX + mode])
            if level not in LEVELS:
                level = "restricted" if mode == "enforce" else "privileged"
        vkey = f"{PREFIX}{mode}-version"
        if vkey in labels:
            version = str(labels[vkey])
            if version != "latest" and not _VERSION.match(version):
                version = "latest"
        out[mode] = LevelVersion(level, version)
    has_enforce = labels.get(PREFIX + "enforce") in LEVELS
    if PREFIX + "warn" not in labels and has_enforce and out["enforce"].stricter_than(out["warn"]):
        version = out["warn"].version if f"{PREFIX}warn-version" in labels else out["enforce"].version
        out["warn"] = LevelVersion(out["enforce"].level, version)
    return out
