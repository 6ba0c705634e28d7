"""mount(2)/umount2(2) and process identity helpers for the runc runtime.

Calling libc directly (ctypes) instead of exec'ing `mount`/`umount` saves a process per
mount on the pod-start path. Process identity: a pid alone can be reused after an agent
restart, so every pid we keep on disk is paired with its start time from /proc/<pid>/stat.
"""

from __future__ import annotations

import ctypes
import os

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC = 2, 4, 8, 4096, 16384
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} {source} on {target}: {os.strerror(err)}")


def unmount(target: str) -> bool:
    """Lazily unmount `target` (every stacked mount on it); False if nothing was mounted."""
    done = False
    while _libc.umount2(target.encode(), MNT_DETACH) == 0:
        done = True
    return done


def is_mounted(target: str) -> bool:
    if not os.path.exists(target):  # mountinfo grows with every pod: skip reading it when we can
        return False
    target = os.path.realpath(target)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == target for line in f)
    except OSError:
        return False


def proc_start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 if it does not exist)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    # the comm field may contain spaces/parens: split after the last ')'
    fields = data[data.rfind(b")") + 2:].split()
    if fields and fields[0] == b"Z":  # a zombie has exited already
        return 0
    return int(fields[19]) if len(fields) > 19 else 0


def alive(pid: int, start_time: int) -> bool:
    return pid > 0 and start_time > 0 and proc_start_time(pid) == start_time
