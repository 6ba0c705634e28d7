"""gctune: after a full collection, the survivors are frozen, so the next full collection does
not walk them again — and frozen objects are still freed when the last reference goes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tugboat.util import gctune


@pytest.fixture
def tuned() -> Iterator[None]:
    before = gc.get_threshold()
    gctune.tune()
    try:
        yield
    finally:
        gc.callbacks.remove(gctune._freeze_after_full)
        gc.unfreeze()
        gc.set_threshold(*before)


def test_full_collection_freezes_survivors_and_they_still_die(tuned: None) -> None:
    assert gc.get_threshold() == (gctune.YOUNG, gctune.MIDDLE, gctune.OLD)
    gctune.tune()  # idempotent: one callback
    assert gc.callbacks.count(gctune._freeze_after_full) == 1
    cache = [{"metadata": {"name": str(i)}} for i in range(10_000)]
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen >= 10_000  # the cache's (tracked, outer) dicts are out of the collector's sight
    assert not gc.get_objects(generation=2)  # nothing left for the next full collection to walk
    del cache
    assert gc.get_freeze_count() <= frozen - 10_000  # reference counting freed them anyway
