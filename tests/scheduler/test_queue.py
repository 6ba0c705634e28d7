"""Scheduling queue semantics: priority order, back-off timing (FakeClock), event-driven retry."""

from __future__ import annotations

import pytest

from tests.scheduler.util import pod
from tugboat.client.clock import FakeClock
from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import num_feasible_nodes_to_find
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.queue import SchedulingQueue


def pi(name: str, priority: int = 0) -> PodInfo:
    return PodInfo(pod(name, priority=priority))


def test_pops_by_priority_then_queue_time() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pi("low-old", 0), timestamp=1.0)
    q.add(pi("high", 100), timestamp=3.0)
    q.add(pi("low-new", 0), timestamp=2.0)
    q.add(pi("mid", 50), timestamp=4.0)
    order = [q.pop_nowait().pi.name for _ in range(4)]  # type: ignore[union-attr]
    assert order == ["high", "mid", "low-old", "low-new"]
    assert q.pop_nowait() is None


def test_backoff_doubles_to_ten_seconds() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pi("p"))
    durations = []
    for _ in range(6):
        qpi = q.pop_nowait()
        assert qpi is not None
        durations.append(q.backoff_duration(qpi))
        q.add_backoff(qpi)
        clock.advance(durations[-1] - 0.01)
        assert q.pop_nowait() is None, "popped before its back-off expired"
        clock.advance(0.01)
    assert durations == [1, 2, 4, 8, 10, 10]


def test_unschedulable_pod_moves_on_relevant_event_only() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock, plugins_for_event=lambda e: {"NodeResourcesFit"} if e == ev.NODE_ADD else set())
    q.add(pi("p"))
    qpi = q.pop_nowait()
    assert qpi is not None
    cycle = q.scheduling_cycle
    q.add_unschedulable(qpi, {"NodeResourcesFit"}, cycle)
    assert q.where["default/p"] == "unschedulable"
    assert q.move_all(ev.NODE_LABEL) == 0  # no plugin that rejected it cares
    assert q.pop_nowait() is None
    clock.advance(1.0)  # back-off of the first attempt is over
    assert q.move_all(ev.NODE_ADD) == 1
    again = q.pop_nowait()
    assert again is not None and again.pi.name == "p"


def test_event_during_cycle_sends_pod_to_backoff_not_unschedulable() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pi("p"))
    qpi = q.pop_nowait()
    assert qpi is not None
    cycle = q.scheduling_cycle
    q.move_all(ev.NODE_ADD)  # a node arrived while the pod was being scheduled
    q.add_unschedulable(qpi, {"NodeResourcesFit"}, cycle)
    assert q.where["default/p"] == "backoff"
    clock.advance(1.0)
    assert q.pop_nowait() is not None


def test_unschedulable_leftovers_retried_after_five_minutes() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pi("p"))
    qpi = q.pop_nowait()
    assert qpi is not None
    q.add_unschedulable(qpi, {"NodeResourcesFit"}, q.scheduling_cycle)
    clock.advance(299)
    q.flush_unschedulable_leftover()
    assert q.where["default/p"] == "unschedulable"
    clock.advance(1)
    q.flush_unschedulable_leftover()
    assert q.pop_nowait() is not None


def test_deleted_pod_is_not_requeued_and_gated_pod_waits() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(pi("p"))
    qpi = q.pop_nowait()
    assert qpi is not None
    q.delete("default/p")
    q.add_unschedulable(qpi, set(), q.scheduling_cycle)
    assert "default/p" not in q
    gated = pod("g", spec={"schedulingGates": [{"name": "wait"}]})
    q.add(PodInfo(gated))
    assert q.pop_nowait() is None
    ungated = pod("g")
    q.update(PodInfo(ungated))
    assert q.pop_nowait() is not None


async def test_pop_waits_for_backoff_with_fake_clock() -> None:
    import asyncio
    clock = FakeClock()
    q = SchedulingQueue(clock)
    runner = asyncio.create_task(q.run())
    try:
        q.add(pi("p"))
        first = await q.pop()
        q.add_backoff(first)
        waiter = asyncio.create_task(q.pop())
        await asyncio.sleep(0)
        assert not waiter.done()
        clock.advance(1.0)
        got = await asyncio.wait_for(waiter, 1)
        assert got.pi.name == "p" and got.attempts == 2
    finally:
        runner.cancel()


@pytest.mark.parametrize("nodes,want", [(50, 50), (99, 99), (100, 100), (1000, 420), (5000, 500), (6000, 300),
                                        (200, 100)])
def test_num_feasible_nodes_to_find(nodes: int, want: int) -> None:
    assert num_feasible_nodes_to_find(nodes, None) == want


def test_percentage_override() -> None:
    assert num_feasible_nodes_to_find(1000, 100) == 1000
    assert num_feasible_nodes_to_find(5000, 30) == 1500
