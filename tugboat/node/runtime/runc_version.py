"""Refuse to run containers with a runc that is open to CVE-2024-21626 ("Leaky Vessels").

runc before 1.1.12 leaks a host directory fd into the container's init; a workingDir of
/proc/self/fd/<n> (or an exec with such a cwd) then lands the process on the host's
filesystem. Upstream fixed it in 1.1.12. Distributions backport the fix without changing
the upstream version number, so an older version string is accepted only when it is one of
these known patched distribution builds (runc prints the package version as `commit:`):

  Debian 12 "bookworm": 1.1.5+ds1-1+deb12u1 (bookworm-security, 2024-02-02) and later deb12uN
(verified from the package changelog: "CVE-2024-21626: several container breakouts due to
internally leaked fds"). Add other distributions' patched builds here once verified.

Anything else older than 1.1.12 is refused with a message naming the version found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIXED = (1, 1, 12)
PATCHED_BUILDS = [
    (re.compile(r"^1\.1\.5\+ds1-1\+deb12u(\d+)$"), 1),
]


class RuncVersionError(RuntimeError):
    pass


@dataclass
class RuncVersion:
    version: str
    commit: str
    spec: str
    patched_build: bool = False

    def describe(self) -> str:
        how = f"distribution build {self.commit} with the CVE-2024-21626 fix backported" if self.patched_build else ""
        return f"runc {self.version}" + (f" ({how})" if how else "")


def parse(text: str) -> RuncVersion:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("runc version "):
            fields["version"] = line[len("runc version "):].strip()
        elif ":" in line:
            k, _, v = line.partition(":")
            fields[k.strip()] = v.strip()
    if "version" not in fields:
        raise RuncVersionError(f"cannot parse `runc --version` output: {text!r}")
    return RuncVersion(fields["version"], fields.get("commit", ""), fields.get("spec", ""))


def numeric(version: str) -> tuple[int, ...]:
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return (0, 0, 0)
    return tuple(int(x) for x in m.groups())


def check(text: str) -> RuncVersion:
    """Parse `runc --version` and raise RuncVersionError unless it is safe."""
    v = parse(text)
    if numeric(v.version) >= FIXED:
        return v
    for pattern, min_rev in PATCHED_BUILDS:
        m = pattern.match(v.commit)
        if m and int(m.group(1)) >= min_rev:
            v.patched_build = True
            return v
    raise RuncVersionError(
        f"runc {v.version} (build {v.commit or 'unknown'}) is older than 1.1.12 and not a known patched "
        f"distribution build: it is vulnerable to CVE-2024-21626 (container breakout through a leaked fd, "
        f"e.g. workingDir /proc/self/fd/7). Install runc >= 1.1.12 or your distribution's security update.")
