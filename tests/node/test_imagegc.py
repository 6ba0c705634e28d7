"""The agent's image GC runs the image service's collection on its period, with the
kubelet's thresholds, and survives a failing collection."""

from __future__ import annotations

import asyncio

import pytest

from tugboat.node.imagegc import ImageGC


class FakeImages:
    def __init__(self, fail_first: bool = False):
        self.calls: list[tuple[int, int]] = []
        self.fail_first = fail_first

    async def garbage_collect(self, high: int, low: int) -> int:
        self.calls.append((high, low))
        if self.fail_first and len(self.calls) == 1:
            raise OSError("disk trouble")
        return 1024


async def test_runs_on_its_period_with_kubelet_thresholds() -> None:
    images = FakeImages()
    gc = ImageGC(images, period=0.05)
    await gc.start()
    await asyncio.sleep(0.18)
    await gc.stop()
    assert len(images.calls) >= 2 and set(images.calls) == {(85, 80)}
    assert gc.freed == 1024 * gc.runs


async def test_a_failed_collection_does_not_stop_the_loop() -> None:
    images = FakeImages(fail_first=True)
    gc = ImageGC(images, period=0.03)
    await gc.start()
    await asyncio.sleep(0.15)
    await gc.stop()
    assert len(images.calls) >= 2 and gc.runs == len(images.calls) - 1


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError):
        ImageGC(FakeImages(), high_percent=80, low_percent=85)
