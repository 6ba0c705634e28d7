"""Layers of a build: a directory in overlay form → an OCI gzip layer; COPY/ADD staging.

A RUN step's overlay upper directory records deletions the overlayfs way (a 0/0 character
device for a removed file, the `trusted.overlay.opaque` xattr on a replaced directory); an OCI
layer records them as `.wh.NAME` and `.wh..wh..opq` entries. `dir_to_layer` writes the OCI form
(sorted, mtime-stable gzip, so the same content gives the same digest), optionally owning every
entry as one uid:gid (COPY --chown, and root for context files owned by the user who builds).
The same directory stays usable as an overlay lower layer for the next RUN.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
from pathlib import Path

from tugboat.node.images.push import OCI_LAYER_GZIP, Blob, HashWriter

OPAQUE_XATTR = "trusted.overlay.opaque"


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def dir_to_layer(root: str | Path, out: Path, owner: tuple[int, int] | None = None,
                 implicit: frozenset[str] = frozenset()) -> Blob:
    """Tar + gzip the overlay-form directory `root` as an OCI layer at `out`. Directories in
    `implicit` (relative paths: the parents a COPY destination needed) get no entry of their
    own, so an existing directory of the image (/tmp 1777, say) keeps its mode and owner."""
    root = str(root)
    with open(out, "wb") as f:
        outer = HashWriter(f)
        with gzip.GzipFile(fileobj=outer, mode="wb", mtime=0, compresslevel=6) as gz:  # type: ignore[arg-type]
            inner = HashWriter(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
                _add_tree(tf, root, "", owner, implicit)
    return Blob(out, "sha256:" + outer.hash.hexdigest(), outer.size, OCI_LAYER_GZIP,
                "sha256:" + inner.hash.hexdigest())


def _add_tree(tf: tarfile.TarFile, root: str, rel: str, owner: tuple[int, int] | None,
              implicit: frozenset[str]) -> None:
    here = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(here)):
        path = os.path.join(here, name)
        arc = f"{rel}/{name}" if rel else name
        st = os.lstat(path)
        if _is_whiteout(st):
            ti = tarfile.TarInfo(f"{rel}/.wh.{name}" if rel else f".wh.{name}")
            tf.addfile(ti)
            continue
        if arc in implicit and stat.S_ISDIR(st.st_mode):
            _add_tree(tf, root, arc, owner, implicit)
            continue
        ti = tf.gettarinfo(path, arc)
        if owner is not None:
            ti.uid, ti.gid = owner
            ti.uname = ti.gname = ""
        if ti.isreg():
            with open(path, "rb") as f:
                tf.addfile(ti, f)
        else:
            tf.addfile(ti)
        if stat.S_ISDIR(st.st_mode):
            if _opaque(path):
                tf.addfile(tarfile.TarInfo(f"{arc}/.wh..wh..opq"))
            _add_tree(tf, root, arc, owner, implicit)


def parents(path: str, *, include_self: bool) -> frozenset[str]:
    """'a/b/c' → {'a', 'a/b'} (+ 'a/b/c' with include_self)."""
    parts = [p for p in path.strip("/").split("/") if p]
    n = len(parts) if include_self else len(parts) - 1
    return frozenset("/".join(parts[:i]) for i in range(1, n + 1))


def is_archive(path: Path) -> bool:
    """ADD extracts local tar archives (plain, gzip, bzip2, xz) instead of copying them."""
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except OSError:
        return False


def copy_into(src: Path, dest: Path, *, extract: bool = False) -> None:
    """Put `src` at `dest` in a staging dir: a directory's CONTENTS are copied (Docker's rule),
    a file is copied to `dest` (a path, not a directory: the caller decided), an archive with
    `extract` is unpacked into the directory `dest` (safely: no entry leaves it)."""
    if src.is_dir() and not src.is_symlink():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copystat(src, dest)
        for child in sorted(src.iterdir()):
            copy_into(child, dest / child.name)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if extract and is_archive(src):
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(src) as tf:
            tf.extractall(dest, filter="tar" if os.geteuid() == 0 else "data")
        return
    if dest.is_dir() and not dest.is_symlink():
        dest = dest / src.name
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
    else:
        shutil.copy2(src, dest)
