"""Safe `subPath` and `workingDir` resolution (CVE-2017-1002101, CVE-2021-25741, CVE-2024-21626).

A subPath is walked one component at a time with openat(O_NOFOLLOW|O_DIRECTORY) from the volume
root, so a symlink planted by a container (`sub -> /`) cannot make the bind mount reach the
host: any symlink component is refused. Missing directories are created (the kubelet does the
same). The final component may be a regular file (file bind mount) but not a symlink.
"""

from __future__ import annotations

import os
import stat


class UnsafePath(Exception):
    pass


def check_working_dir(working_dir: str) -> None:
    norm = os.path.normpath(working_dir or "/")
    if norm == "/proc/self/fd" or norm.startswith(("/proc/self/fd/", "/proc/thread-self/fd")):
        raise UnsafePath(f"workingDir {working_dir!r} is not allowed: it would reach the host")


def resolve_subpath(volume_root: str, sub_path: str) -> str:
    if not sub_path:
        return volume_root
    if os.path.isabs(sub_path) or any(p == ".." for p in sub_path.split("/")):
        raise UnsafePath(f"subPath {sub_path!r} must be a relative path without '..'")
    parts = [p for p in sub_path.split("/") if p and p != "."]
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(volume_root, flags)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"subPath {sub_path!r}: {part!r} is a symlink; refusing to follow it")
            if last and not stat.S_ISDIR(st.st_mode):
                break
            nfd = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    return os.path.join(volume_root, *parts)
