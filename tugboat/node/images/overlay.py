"""overlayfs mounts through mount(2)/umount2(2) directly (no `mount` process per container:
container start latency matters), and the mount table check from /proc/self/mountinfo."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2
_PAGE = os.sysconf("SC_PAGE_SIZE")


def mount_overlay(target: str, lower: list[str], upper: str, work: str) -> None:
    """Mount an overlay at `target`; `lower` is top-most first (overlayfs order)."""
    opts = f"lowerdir={':'.join(lower)},upperdir={upper},workdir={work}"
    if len(opts) >= _PAGE:
        raise OSError(errno.E2BIG, f"overlay options for {len(lower)} layers exceed one page")
    if _libc.mount(b"overlay", target.encode(), b"overlay", 0, opts.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount overlay on {target}: {os.strerror(e)}")


def unmount(target: str) -> None:
    """Unmount `target` (lazily if busy); not being mounted is fine."""
    if _libc.umount2(target.encode(), 0) == 0:
        return
    e = ctypes.get_errno()
    if e in (errno.EINVAL, errno.ENOENT):
        return
    if e == errno.EBUSY and _libc.umount2(target.encode(), MNT_DETACH) == 0:
        return
    e = ctypes.get_errno()
    raise OSError(e, f"umount {target}: {os.strerror(e)}")


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {_unescape(line.split()[4]) for line in f}


def is_mounted(path: str) -> bool:
    return os.path.exists(path) and os.path.realpath(path) in mountpoints()
