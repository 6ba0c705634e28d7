"""Layer extraction: overlay whiteouts, metadata, and refusal of hostile tarballs."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest

from tests.support.registry import make_layer_tar as make_tar
from tugboat.node.images.layers import LayerError, extract_layer, secure_join


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "l.tar.gz", [
        ("etc/", "dir", ""), ("etc/.wh.passwd", "file", ""),
        ("var/cache/", "dir", ""), ("var/cache/.wh..wh..opq", "file", ""), ("var/cache/new", "file", "n"),
    ])
    out = tmp_path / "out"
    extract_layer(tar, out)
    st = os.lstat(out / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (out / "etc/.wh.passwd").exists()
    assert os.getxattr(out / "var/cache", "trusted.overlay.opaque") == b"y"
    assert (out / "var/cache/new").read_text() == "n"
    assert not (out / "var/cache/.wh..wh..opq").exists()


def test_metadata_links_and_diff_id(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "l.tar", [
        ("app/", "dir", ""), ("app/run", "file", "#!/bin/sh\n"), ("app/abs", "symlink", "/etc/hostname"),
        ("app/again", "hardlink", "app/run"),
    ], gz=False)
    import hashlib

    want = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    assert extract_layer(tar, tmp_path / "a", diff_id=want) == want
    run = tmp_path / "a/app/run"
    st = os.stat(run)
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (1000, 1001)
    assert st.st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.stat(tmp_path / "a/app").st_mode) == 0o750
    assert os.readlink(tmp_path / "a/app/abs") == "/etc/hostname"  # kept as is: resolved in the container
    assert os.stat(tmp_path / "a/app/again").st_ino == st.st_ino
    with pytest.raises(LayerError, match="diff-id"):
        extract_layer(tar, tmp_path / "b", diff_id="sha256:" + "0" * 64)


@pytest.mark.parametrize("entries", [
    [("../escape", "file", "x")],
    [("a/../../escape", "file", "x")],
    [("a/", "dir", ""), ("link", "hardlink", "../../etc/passwd")],
])
def test_traversal_is_refused(tmp_path: Path, entries: list[tuple[str, str, str]]) -> None:
    with pytest.raises(LayerError, match="escapes"):
        extract_layer(make_tar(tmp_path / "evil.tar.gz", entries), tmp_path / "root" / "layer")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "root/escape").exists()


def test_symlinked_parent_cannot_reach_the_host(tmp_path: Path) -> None:
    victim = tmp_path / "host"
    victim.mkdir()
    tar = make_tar(tmp_path / "evil.tar.gz", [
        ("out", "symlink", str(victim)), ("out/pwned", "file", "x"),
        ("rel", "symlink", "../../../../../../" + str(victim)), ("rel/pwned2", "file", "y"),
    ])
    root = tmp_path / "layer"
    extract_layer(tar, root)
    assert not list(victim.iterdir())  # nothing landed on the "host"
    assert (root / str(victim).lstrip("/") / "pwned").read_text() == "x"  # resolved inside the layer
    assert (root / str(victim).lstrip("/") / "pwned2").read_text() == "y"


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "up").symlink_to("../../..")
    assert secure_join(str(tmp_path), "up/etc/passwd") == str(tmp_path / "etc/passwd")
    with pytest.raises(LayerError, match="symbolic links"):
        secure_join(str(tmp_path), "loop/x")


def test_not_a_tar_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(gzip.compress(b"not a tar at all" * 100))
    with pytest.raises(LayerError):
        extract_layer(tmp_path / "junk", tmp_path / "x")
