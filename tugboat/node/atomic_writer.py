"""Atomic projection of ConfigMap/Secret/downwardAPI data into a volume directory.

Like upstream's AtomicWriter, a reader in the container never sees a half-updated volume:
files are written into a fresh timestamped directory `..<ts>`, a `..data_tmp` symlink to it is
renamed over `..data` (rename is atomic), and each top-level user path is a symlink through
`..data`. The previous timestamped directory is removed afterwards. Paths are validated so a
key like `../x` cannot write outside the volume.
"""

from __future__ import annotations

import os
import shutil
import time

DATA = "..data"


def _check(path: str) -> None:
    if not path or os.path.isabs(path) or ".." in path.split("/") or path.startswith(".."):
        raise ValueError(f"invalid volume file path {path!r}")


def write_atomic(target_dir: str, files: dict[str, tuple[bytes, int]]) -> bool:
    """Make `target_dir` contain exactly `files` ({relpath: (content, mode)}). Returns True when
    anything changed."""
    for p in files:
        _check(p)
    os.makedirs(target_dir, exist_ok=True)
    data_link = os.path.join(target_dir, DATA)
    old_ts = os.readlink(data_link) if os.path.islink(data_link) else ""
    if old_ts and _same(os.path.join(target_dir, old_ts), files):
        return False
    ts = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    ts_dir = os.path.join(target_dir, ts)
    os.makedirs(ts_dir)
    for rel, (content, mode) in files.items():
        full = os.path.join(ts_dir, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chmod(full, mode)
    tmp = os.path.join(target_dir, "..data_tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(ts, tmp)
    os.rename(tmp, data_link)
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = os.path.join(target_dir, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join(DATA, top), link)
    for name in os.listdir(target_dir):
        if name.startswith(".."):
            continue
        if name not in tops:
            p = os.path.join(target_dir, name)
            if os.path.islink(p):
                os.unlink(p)
    if old_ts:
        shutil.rmtree(os.path.join(target_dir, old_ts), ignore_errors=True)
    return True


def _same(ts_dir: str, files: dict[str, tuple[bytes, int]]) -> bool:
    found = []
    for root, _dirs, names in os.walk(ts_dir):
        for n in names:
            found.append(os.path.relpath(os.path.join(root, n), ts_dir))
    if sorted(found) != sorted(files):
        return False
    for rel, (content, mode) in files.items():
        p = os.path.join(ts_dir, rel)
        try:
            with open(p, "rb") as f:
                if f.read() != content or (os.stat(p).st_mode & 0o7777) != mode:
                    return False
        except OSError:
            return False
    return True
