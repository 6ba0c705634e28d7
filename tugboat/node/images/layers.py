"""Unpack one layer tarball into its own directory, in the form overlayfs reads as a lower layer.

Each layer is extracted once (keyed by its diff-id, the sha256 of the uncompressed tar, which
is verified here) and shared by every image and container that uses it. OCI whiteouts become
overlay whiteouts: `dir/.wh.name` → a 0/0 character device `dir/name`, `dir/.wh..wh..opq` → the
`trusted.overlay.opaque=y` xattr on `dir`. Extraction is hostile-input safe: names are
normalised, `..` never climbs out, and every path is resolved inside the layer root the way
`securejoin` does (a symlink in the layer can never make a later entry land on the host).
Modes, ownership, times and xattrs are kept (we run as root).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class LayerError(Exception):
    pass


class _HashingReader:
    """A read-only file object that hashes what passes through (the diff-id)."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        b = self.raw.read(n)
        self.hash.update(b)
        return b

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _open_decompressed(f: IO[bytes]) -> IO[bytes]:
    magic = f.read(4)
    f.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError as e:
            raise LayerError("zstd-compressed layers are not supported on this node") from e
        return zstandard.ZstdDecompressor().stream_reader(f)  # type: ignore[no-any-return]
    return f


def secure_join(root: str, rel: str, *, follow_last: bool = True, _depth: int = 0) -> str:
    """Resolve `rel` under `root` as if root were `/`: `..` stops at root, symlinks (absolute or
    relative) are followed *inside* root. Returns a host path that is always under root."""
    if _depth > 40:
        raise LayerError(f"too many levels of symbolic links resolving {rel!r}")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    for i, part in enumerate(parts):
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        cand = os.path.join(root, *resolved, part)
        last = i == len(parts) - 1
        if (not last or follow_last) and os.path.islink(cand):
            target = os.readlink(cand)
            base = "" if target.startswith("/") else "/".join(resolved)
            rest = "/".join(parts[i + 1:])
            inner = secure_join(root, f"{base}/{target}", _depth=_depth + 1)
            return secure_join(root, os.path.relpath(inner, root) + "/" + rest,
                               follow_last=follow_last, _depth=_depth + 1) if rest else inner
        resolved.append(part)
    return os.path.join(root, *resolved)


def _clean_name(name: str) -> str:
    """Normalise a tar entry name to a relative path; a `..` component is a breakout attempt
    (never produced by a legitimate image builder) and fails the whole layer."""
    if ".." in name.split("/"):
        raise LayerError(f"refusing tar entry {name!r}: path escapes the layer")
    return os.path.normpath("/" + name).lstrip("/")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _apply_meta(path: str, m: tarfile.TarInfo, is_root: bool) -> None:
    if is_root:
        try:
            os.lchown(path, m.uid, m.gid)
        except OSError:
            pass
    if not m.issym():
        os.chmod(path, m.mode & 0o7777)
        for key, val in (m.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(path, key[len("SCHILY.xattr."):], val.encode("utf-8", "surrogateescape"))
                except OSError:
                    pass
    try:
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    except OSError:
        pass


def extract_layer(blob: str | Path, dest: str | Path, diff_id: str = "") -> str:
    """Extract the (gzip, zstd or plain) tar `blob` into the empty directory `dest`; verify the
    uncompressed content against `diff_id` when given. Returns the computed diff-id."""
    root = str(dest)
    os.makedirs(root, exist_ok=True)
    is_root = os.geteuid() == 0
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    with open(blob, "rb") as raw:
        reader = _HashingReader(_open_decompressed(raw))
        try:
            tf = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]
        except tarfile.TarError as e:
            raise LayerError(f"layer is not a tar archive: {e}") from e
        try:
            for m in tf:
                _extract_member(tf, m, root, is_root, dirs)
        except tarfile.TarError as e:
            raise LayerError(f"corrupt layer: {e}") from e
        reader.drain()
    for path, m in reversed(dirs):  # directory times/modes last, deepest first
        _apply_meta(path, m, is_root)
    got = "sha256:" + reader.hash.hexdigest()
    if diff_id and got != diff_id:
        raise LayerError(f"layer content has diff-id {got}, the image config says {diff_id}")
    return got


def _extract_member(tf: Any, m: tarfile.TarInfo, root: str, is_root: bool,
                    dirs: list[tuple[str, tarfile.TarInfo]]) -> None:
    name = _clean_name(m.name)
    if not name:
        if m.isdir():
            dirs.append((root, m))
        return
    parent_rel, base = os.path.split(name)
    parent = secure_join(root, parent_rel)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if base == OPAQUE:
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return
    if base.startswith(WHITEOUT):
        if base.startswith(WHITEOUT + WHITEOUT):
            return  # other AUFS metadata (.wh..wh.plnk …): nothing for overlay
        target = os.path.join(parent, base[len(WHITEOUT):])
        _remove(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    path = os.path.join(parent, base)
    if m.isdir():
        if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path)):
            _remove(path)
        os.makedirs(path, mode=0o755, exist_ok=True)
        dirs.append((path, m))
        return
    _remove(path)
    if m.isreg():
        src = tf.extractfile(m)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    elif m.issym():
        os.symlink(m.linkname, path)
    elif m.islnk():
        target = secure_join(root, _clean_name(m.linkname), follow_last=False)
        if not os.path.lexists(target):
            raise LayerError(f"hard link {m.name!r} → {m.linkname!r}: target not in this layer")
        os.link(target, path, follow_symlinks=False)
        return  # shares the target's inode and metadata
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
    elif m.isfifo():
        os.mkfifo(path, m.mode & 0o7777)
    else:
        return
    _apply_meta(path, m, is_root)
