"""Fixtures for the image store tests: a fresh data dir per test (removed after) and a check
that no overlay mount under it survives the test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tugboat.node.images import overlay


@pytest.fixture
def data_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="tug-images-"))
    try:
        yield d
    finally:
        leaked = [m for m in overlay.mountpoints() if m.startswith(str(d))]
        for m in leaked:
            overlay.unmount(m)
        shutil.rmtree(d, ignore_errors=True)
        assert not leaked, f"mounts left behind: {leaked}"
