"""Safe `subPath` and `workingDir` resolution (CVE-2017-1002101, CVE-2021-25741, CVE-2024-21626).

A subPath is walked one component at a time with openat(O_NOFOLLOW|O_DIRECTORY) from the volume
root, so a symlink planted by a container (`sub -> /`) cannot make the bind mount reach the
host: any symlink component is refused. Missing directories are created (the kubelet does the
same). The final component may be a regular file (file bind mount) but not a symlink.

A checked *path* is still raced: a container sharing the volume can swap a component for a
symlink between our check and runc's mount. So, as the kubelet does, the container gets a
bind mount made from an *open file descriptor*: `bind_subpath` opens the subPath with
openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) — the kernel refuses any step out of the
volume, symlinks inside it resolve as upstream's EvalSymlinks+boundary check allows — (or, on
kernels without openat2, the O_NOFOLLOW walk above), and bind-mounts `/proc/self/fd/<fd>` onto
`<pod dir>/volume-subpaths/<volume>/<container>/<index>`, which is what runc mounts. Whatever
is renamed or swapped afterwards, that mount is the inode we checked.
"""

from __future__ import annotations

import ctypes
import errno
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


SYS_OPENAT2 = 437  # x86_64 and the generic table (arm64) alike
RESOLVE_NO_MAGICLINKS, RESOLVE_BENEATH = 0x02, 0x08
MS_BIND, MNT_DETACH = 4096, 2
_libc = ctypes.CDLL(None, use_errno=True)
_openat2_ok = True


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int | None:
    """openat2(2); None when the kernel has no openat2 (then the caller walks instead)."""
    global _openat2_ok
    if not _openat2_ok:
        return None
    how = _OpenHow(flags, 0, resolve)
    fd = _libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dir_fd), path.encode(), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return int(fd)
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM) and _openat2_ok:  # EPERM: a seccomp filter that blocks it
        _openat2_ok = False
        return None
    raise OSError(err, os.strerror(err), path)


def open_subpath(volume_root: str, sub_path: str) -> int:
    """An O_PATH fd of `sub_path` inside `volume_root`, resolved without leaving it (missing
    directories are created first). Raises UnsafePath when it would escape."""
    if os.path.isabs(sub_path) or any(p == ".." for p in sub_path.split("/")):
        raise UnsafePath(f"subPath {sub_path!r} must be a relative path without '..'")
    root = os.open(volume_root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for attempt in (1, 2):
            try:
                fd = _openat2(root, sub_path, os.O_PATH | os.O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
            except OSError as e:
                if e.errno in (errno.EXDEV, errno.ELOOP):
                    raise UnsafePath(f"subPath {sub_path!r} resolves outside of its volume") from None
                if e.errno != errno.ENOENT or attempt == 2:
                    raise
                resolve_subpath(volume_root, sub_path)  # creates what is missing (refusing symlinks)
                continue
            if fd is None:  # no openat2: the component walk, refusing every symlink
                resolve_subpath(volume_root, sub_path)
                fd = _walk_open(root, sub_path)
            return fd
        raise AssertionError("unreachable")
    finally:
        os.close(root)


def _walk_open(root: int, sub_path: str) -> int:
    fd = os.dup(root)
    for part in [p for p in sub_path.split("/") if p and p != "."]:
        try:
            nfd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        if stat.S_ISLNK(os.fstat(nfd).st_mode):
            os.close(nfd)
            raise UnsafePath(f"subPath {sub_path!r}: {part!r} is a symlink; refusing to follow it")
        fd = nfd
    return fd


def _umount(target: str) -> None:
    while _libc.umount2(target.encode(), MNT_DETACH) == 0:
        pass


def bind_subpath(volume_root: str, sub_path: str, target: str) -> str:
    """Bind-mount the safely opened subPath onto `target` (made a file or directory to match,
    any earlier mount there replaced); returns `target` for the container's mount."""
    fd = open_subpath(volume_root, sub_path)
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
        _umount(target)
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        if _libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, ctypes.c_ulong(MS_BIND), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"bind mount of subPath {sub_path!r}: {os.strerror(err)}")
    finally:
        os.close(fd)
    return target


def unmount_subpaths(base: str) -> bool:
    """Unmount every subPath bind mount under `base` (deepest first); True when none is left,
    i.e. removing `base` can no longer delete anything inside a volume through a mount."""
    prefix = os.path.realpath(base) + "/"

    def mounted() -> list[str]:
        try:
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
        except OSError:
            return []
        return sorted((p.replace("\\040", " ") for p in points if p.startswith(prefix)), key=len, reverse=True)

    for point in mounted():
        _umount(point)
    return not mounted()
