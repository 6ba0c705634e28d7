"""Where a container's cgroup lives on this host, and the few files the runtime reads.

runc creates and deletes the cgroups itself (we hand it an absolute `cgroupsPath`); the
runtime only needs to find them again: to read the OOM-kill counter when a container
exits (the shim does that before `runc delete` removes the cgroup), to show the limits in
tests and stats, and to remove the empty pod-level parents runc leaves behind. Hosts run
either the unified v2 hierarchy or v1 (possibly "hybrid": v1 controllers plus an empty
v2 mount at /sys/fs/cgroup/unified); both are handled — a v1 controller is mounted at
/sys/fs/cgroup/<name>.

This module must stay importable by the shim with the bare standard library.
"""

from __future__ import annotations

import os

CGROUP_MOUNT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "hugetlb",
                  "net_cls", "net_prio", "perf_event", "rdma", "misc", "systemd")


def is_v2(mount: str = CGROUP_MOUNT) -> bool:
    """True when /sys/fs/cgroup itself is the unified hierarchy."""
    return os.path.exists(os.path.join(mount, "cgroup.controllers"))


def controller_dir(path: str, controller: str, mount: str = CGROUP_MOUNT) -> str:
    """The directory of cgroup `path` (absolute, e.g. /tugboat/podX/c) for one controller."""
    rel = path.lstrip("/")
    if is_v2(mount):
        return os.path.join(mount, rel)
    return os.path.join(mount, controller, rel)


def all_dirs(path: str, mount: str = CGROUP_MOUNT) -> list[str]:
    """Every directory that cgroup `path` has on this host (one for v2, one per v1 controller)."""
    rel = path.lstrip("/")
    if is_v2(mount):
        return [os.path.join(mount, rel)]
    out = []
    for name in sorted(os.listdir(mount)):
        d = os.path.join(mount, name)
        if os.path.islink(d) or not os.path.isdir(d):
            continue  # ("unified", the hybrid v2 mount, is included: runc creates the path there too)
        out.append(os.path.join(d, rel))
    return out


def oom_kill_count(path: str, mount: str = CGROUP_MOUNT) -> int:
    """How many processes the kernel OOM-killed in cgroup `path` (0 if unknown)."""
    d = controller_dir(path, "memory", mount)
    name = "memory.events" if is_v2(mount) else "memory.oom_control"
    try:
        with open(os.path.join(d, name)) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def remove_tree(path: str, mount: str = CGROUP_MOUNT) -> list[str]:
    """rmdir cgroup `path` and its (empty) children in every hierarchy; returns the dirs
    that could not be removed (still have processes)."""
    left: list[str] = []
    for top in all_dirs(path, mount):
        if not os.path.isdir(top):
            continue
        for root, dirs, _files in os.walk(top, topdown=False):
            for d in dirs:
                _rmdir(os.path.join(root, d), left)
        _rmdir(top, left)
    return left


def _rmdir(d: str, left: list[str]) -> None:
    try:
        os.rmdir(d)
    except FileNotFoundError:
        pass
    except OSError:
        left.append(d)


def read(path: str, controller: str, filename: str, mount: str = CGROUP_MOUNT) -> str:
    with open(os.path.join(controller_dir(path, controller, mount), filename)) as f:
        return f.read().strip()


def memsw_available(mount: str = CGROUP_MOUNT) -> bool:
    """v1 swap accounting present (then memory+swap is limited too, so limits are hard)."""
    return not is_v2(mount) and os.path.exists(os.path.join(mount, "memory", "memory.memsw.limit_in_bytes"))
