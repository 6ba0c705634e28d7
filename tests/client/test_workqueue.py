from __future__ import annotations

import asyncio

import pytest

from tugboat.client.clock import FakeClock
from tugboat.client.controller import Controller
from tugboat.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    ShutDown,
    WorkQueue,
)


async def settle(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_dedup_while_waiting() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_add_while_processing_requeues_on_done_only() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # changed again while a worker has it
    assert len(q) == 0  # not handed to a second worker
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_blocks_until_add_and_shutdown_drains() -> None:
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"
    q.add("y")
    q.shutdown()
    q.add("z")  # ignored after shutdown
    assert await q.get() == "y"  # already-queued keys are still handed out
    with pytest.raises(ShutDown):
        await q.get()


async def test_add_after_with_fake_clock() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("late", 10)
    q.add_after("early", 5)
    q.add_after("late", 20)  # a later time does not postpone an earlier one
    await settle()
    assert len(q) == 0 and q.waiting == 2
    clock.advance(4.9)
    await settle()
    assert len(q) == 0
    clock.advance(0.2)
    await settle()
    assert await q.get() == "early"
    clock.advance(5)
    await settle()
    assert await q.get() == "late"
    assert q.waiting == 0
    q.add_after("sooner", 100)
    q.add_after("sooner", 1)  # an earlier time wins
    clock.advance(1)
    await settle()
    assert len(q) == 1
    q.shutdown()


def test_item_exponential_backoff_growth_and_forget() -> None:
    rl: ItemExponentialRateLimiter[str] = ItemExponentialRateLimiter(0.005, 1000.0)
    delays = [rl.when("a", 0) for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0 and max(delays) == 1000.0
    assert rl.num_requeues("a") == 20
    assert rl.when("b", 0) == 0.005  # per item
    rl.forget("a")
    assert rl.num_requeues("a") == 0 and rl.when("a", 0) == 0.005


def test_overall_bucket_combined_by_max() -> None:
    rl: MaxOfRateLimiter[str] = MaxOfRateLimiter(ItemExponentialRateLimiter(0.005, 1000.0),
                                                 BucketRateLimiter(10.0, 100))
    delays = [rl.when(f"k{i}", 0.0) for i in range(101)]
    assert delays[:100] == [0.005] * 100  # the burst: only the per-item delay
    assert delays[100] == pytest.approx(0.1)  # then 10 qps across all keys


async def test_add_rate_limited_uses_backoff() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    for expected in (0.005, 0.01, 0.02):
        q.add_rate_limited("a")
        await settle()
        assert len(q) == 0
        clock.advance(expected * 0.9)
        await settle()
        assert len(q) == 0
        clock.advance(expected * 0.2)
        await settle()
        assert await q.get() == "a"
        q.done("a")
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0
    q.shutdown()


async def test_controller_never_runs_one_key_twice_at_once() -> None:
    running: set[str] = set()
    overlap: list[str] = []
    calls: dict[str, int] = {}
    gate = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key in running:
            overlap.append(key)
        running.add(key)
        calls[key] = calls.get(key, 0) + 1
        await gate.wait()
        running.discard(key)

    ctl = Controller("t", reconcile, workers=4)
    task = asyncio.create_task(ctl.run())
    ctl.enqueue("a")
    await settle()
    for _ in range(5):
        ctl.enqueue("a")  # arrives while "a" is being reconciled
    ctl.enqueue("b")
    await settle()
    assert calls == {"a": 1, "b": 1}
    gate.set()
    for _ in range(50):
        await settle()
        if calls.get("a") == 2:
            break
    assert calls == {"a": 2, "b": 1}  # the 5 adds collapsed into one more run, after the first
    assert overlap == []
    await ctl.stop()
    await task


async def test_controller_requeues_failures_with_backoff_then_forgets() -> None:
    clock = FakeClock()
    attempts: list[float] = []

    async def reconcile(key: str) -> None:
        attempts.append(clock.monotonic())
        if len(attempts) < 4:
            raise RuntimeError("not yet")

    ctl = Controller("t", reconcile, queue=WorkQueue(clock=clock))
    task = asyncio.create_task(ctl.run())
    ctl.enqueue("k")
    for _ in range(40):
        await settle()
        clock.advance(0.005)
    await settle()
    assert len(attempts) == 4
    gaps = [round(b - a, 3) for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps == [0.005, 0.01, 0.02]
    assert ctl.queue.num_requeues("k") == 0  # success forgets the back-off
    await ctl.stop()
    await task


async def test_controller_requeue_after_return_value() -> None:
    clock = FakeClock()
    calls: list[float] = []

    async def reconcile(key: str) -> float | None:
        calls.append(clock.monotonic())
        return 30.0 if len(calls) == 1 else None

    ctl = Controller("t", reconcile, queue=WorkQueue(clock=clock))
    task = asyncio.create_task(ctl.run())
    ctl.enqueue("k")
    await settle()
    clock.advance(29)
    await settle()
    assert len(calls) == 1
    clock.advance(1)
    await settle(20)
    assert calls == [0.0, 30.0]
    await ctl.stop()
    await task
