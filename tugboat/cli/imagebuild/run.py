"""RUN: a build command in a runc container over the layers so far; its changes are a layer.

The root filesystem is an overlay: the layers built so far as read-only lower directories, a
fresh upper directory that collects every change the command makes (whiteouts included) —
which is exactly the next layer. The container has its own pid, mount, ipc, uts and network
namespaces (loopback only: builds need no network here and must not reach out), Docker's
default capabilities, /proc, /dev and /sys, and runs in a cgroup of its own. Everything it
creates (runc state, mount, cgroup) is removed before returning, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import orjson

from tugboat.node.images.overlay import mount_overlay, unmount

RUNC = "/usr/sbin/runc"
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE"]
# mount points runc creates in the rootfs: not part of the layer unless the image had them
_MOUNT_POINTS = ("proc", "dev", "sys")


class RunError(Exception):
    pass


def lookup_user(rootfs: Path, user: str) -> tuple[int, int]:
    """USER name[:group] or uid[:gid] → (uid, gid), names from the image's /etc/passwd|group."""
    name, _, group = user.partition(":")

    def find(path: str, key: str) -> list[str] | None:
        with contextlib.suppress(OSError):
            for line in (rootfs / path).read_text().splitlines():
                parts = line.split(":")
                if len(parts) > 3 and parts[0] == key:
                    return parts
        return None

    if not name or name.isdigit():
        uid = int(name or 0)
        gid = uid if not group else -1
        if not group:
            for line in _lines(rootfs / "etc/passwd"):
                if len(line) > 3 and line[2] == str(uid):
                    gid = int(line[3])
                    break
    else:
        entry = find("etc/passwd", name)
        if entry is None:
            raise RunError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = find("etc/group", group)
            if g is None:
                raise RunError(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    return uid, max(gid, 0)


def _lines(path: Path) -> list[list[str]]:
    try:
        return [line.split(":") for line in path.read_text().splitlines()]
    except OSError:
        return []


def spec(rootfs: str, args: list[str], env: list[str], cwd: str, uid: int, gid: int, cgroup: str) -> dict[str, Any]:
    caps = list(CAPS)
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": uid, "gid": gid}, "args": args, "env": env, "cwd": cwd,
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                    "noNewPrivileges": True},
        "root": {"path": rootfs, "readonly": False},
        "hostname": "tug-build",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                  "cgroupsPath": cgroup,
                  "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                  "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]},
    }


async def run_step(lower: list[Path], work: Path, args: list[str], env: list[str], cwd: str, user: str,
                   *, output: Any = None, runc: str = RUNC) -> Path:
    """Run `args` over `lower` (bottom layer first); returns the upper directory (the new layer)."""
    if os.geteuid() != 0:
        raise RunError("RUN needs root (it runs the command in a runc container)")
    if not os.path.exists(runc):
        raise RunError(f"RUN needs runc at {runc} (apt-get install runc)")
    step = work / f"run-{secrets.token_hex(4)}"
    upper, ovl_work, merged, bundle = step / "upper", step / "work", step / "rootfs", step / "bundle"
    for d in (upper, ovl_work, merged, bundle):
        d.mkdir(parents=True)
    if not lower:
        (step / "empty").mkdir()
        lower = [step / "empty"]
    cid = f"tug-build-{secrets.token_hex(6)}"
    state = step / "runc"
    mounted = False
    try:
        mount_overlay(str(merged), [str(p) for p in reversed(lower)], str(upper), str(ovl_work))
        mounted = True
        had = {m for m in _MOUNT_POINTS if (merged / m).exists()}
        uid, gid = lookup_user(merged, user) if user else (0, 0)
        wd = merged / cwd.lstrip("/")
        if not wd.exists():
            wd.mkdir(parents=True)
        (bundle / "config.json").write_bytes(orjson.dumps(spec(str(merged), args, env, cwd or "/", uid, gid,
                                                               f"/{cid}")))
        proc = await asyncio.create_subprocess_exec(runc, "--root", str(state), "run", "--bundle", str(bundle), cid,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output)
        rc = await proc.wait()
        if rc != 0:
            raise RunError(f"the command {args!r} returned a non-zero code: {rc}")
        for m in _MOUNT_POINTS:
            p = upper / m
            if m not in had and p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    finally:
        if state.exists():
            rm = await asyncio.create_subprocess_exec(runc, "--root", str(state), "delete", "--force", cid,
                                                      stdout=asyncio.subprocess.DEVNULL,
                                                      stderr=asyncio.subprocess.DEVNULL)
            await rm.wait()
        if mounted:
            unmount(str(merged))
        shutil.rmtree(ovl_work, ignore_errors=True)
    return upper
