"""subPath bind mounts made from an open fd (openat2 RESOLVE_BENEATH): no symlink swap can escape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tugboat.node import subpath
from tugboat.node.subpath import UnsafePath, bind_subpath, open_subpath, unmount_subpaths

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")


def _volume(tmp_path: Path) -> Path:
    vol = tmp_path / "vol"
    (vol / "sub").mkdir(parents=True)
    (vol / "sub" / "marker").write_text("inside")
    (tmp_path / "secret").write_text("host")
    return vol


def test_open_refuses_symlinks_out_of_the_volume_and_follows_those_inside(tmp_path: Path) -> None:
    vol = _volume(tmp_path)
    (vol / "out").symlink_to(tmp_path)
    (vol / "abs").symlink_to("/")
    (vol / "in").symlink_to("sub")
    for bad in ("out/secret", "abs/etc", "../secret", "/etc"):
        with pytest.raises(UnsafePath):
            os.close(open_subpath(str(vol), bad))
    fd = open_subpath(str(vol), "in/marker")  # stays beneath the volume: allowed, as upstream
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(vol / "sub" / "marker"))
    finally:
        os.close(fd)
    fd = open_subpath(str(vol), "new/deeper")  # missing directories are created
    os.close(fd)
    assert (vol / "new" / "deeper").is_dir()


def test_the_walk_without_openat2_refuses_every_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subpath, "_openat2_ok", False)
    vol = _volume(tmp_path)
    (vol / "in").symlink_to("sub")
    with pytest.raises(UnsafePath):
        os.close(open_subpath(str(vol), "in/marker"))
    fd = open_subpath(str(vol), "sub/marker")
    try:
        assert os.path.samestat(os.fstat(fd), os.stat(vol / "sub" / "marker"))
    finally:
        os.close(fd)


@needs_root
def test_a_symlink_swapped_in_after_the_open_does_not_change_what_is_mounted(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    vol = _volume(tmp_path)
    target = tmp_path / "pod" / "volume-subpaths" / "v" / "c" / "0"
    real_open = subpath.open_subpath

    def open_then_swap(root: str, sub: str) -> int:  # the container wins the race right after our check
        fd = real_open(root, sub)
        os.rename(vol / "sub", vol / "sub.old")
        (vol / "sub").symlink_to(tmp_path)
        return fd

    monkeypatch.setattr(subpath, "open_subpath", open_then_swap)
    try:
        bind_subpath(str(vol), "sub", str(target))
        assert os.listdir(target) == ["marker"] and (target / "marker").read_text() == "inside"
    finally:
        assert unmount_subpaths(str(tmp_path / "pod"))
    assert os.listdir(target) == []  # unmounted: the empty mount point is left for the pod dir's removal


SWAPPER = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
print("go", flush=True)
while True:
    if libc.renameat2(-100, a, -100, b, 2) != 0:  # RENAME_EXCHANGE
        sys.exit(ctypes.get_errno())
"""


@needs_root
def test_racing_swaps_never_mount_anything_outside_the_volume(tmp_path: Path) -> None:
    vol = _volume(tmp_path)
    (vol / "evil").symlink_to(tmp_path)
    # another process (a container) atomically flips sub between the real directory and a symlink out
    # of the volume, as fast as it can, on the other core
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(vol / "sub"), str(vol / "evil")],
                               stdout=subprocess.PIPE, text=True)
    mounted = refused = 0
    target = tmp_path / "pod" / "0"
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "go\n"
        for _ in range(5000):
            if min(mounted, refused) >= 20:
                break
            try:
                bind_subpath(str(vol), "sub", str(target))
            except UnsafePath:
                refused += 1
                continue
            assert os.listdir(target) == ["marker"]  # the volume's directory, never the host's
            mounted += 1
        assert swapper.poll() is None, f"the swapper failed: errno {swapper.returncode}"
    finally:
        swapper.kill()
        swapper.wait()
        assert unmount_subpaths(str(tmp_path / "pod"))
    assert mounted > 0 and refused > 0, (mounted, refused)  # both sides of the race were hit


@needs_root
def test_unmount_subpaths_lets_the_pod_dir_go_without_touching_the_volume(tmp_path: Path) -> None:
    vol = _volume(tmp_path)
    (vol / "file").write_text("data")
    base = tmp_path / "pod" / "volume-subpaths"
    bind_subpath(str(vol), "sub", str(base / "v" / "c" / "0"))
    bind_subpath(str(vol), "file", str(base / "v" / "c" / "1"))
    bind_subpath(str(vol), "sub", str(base / "v" / "c" / "0"))  # a restarted container: replaced, not stacked
    assert (base / "v" / "c" / "1").read_text() == "data"
    assert unmount_subpaths(str(base))
    assert (vol / "sub" / "marker").read_text() == "inside" and (vol / "file").read_text() == "data"
    with open("/proc/self/mountinfo") as f:
        assert str(base) not in f.read()
