"""CronJob controller against a real in-process API server, driven by a FakeClock (started at
the real time, since the server stamps creationTimestamp with real time)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import settled as wait_for
from tugboat.api.kinds.batch_cron import parse_schedule
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import FakeClock
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.cronjob import CronJobController
from tugboat.controllers.cronjob_util import most_recent_schedule, scheduled_annotation
from tugboat.util.clock import rfc3339

S = default_scheme()
JOBS = S.get("batch", "v1", "jobs")
CJS = S.get("batch", "v1", "cronjobs")
EVENTS = S.get("", "v1", "events")


@contextlib.asynccontextmanager
async def started(client: Client, clock: FakeClock) -> AsyncIterator[CronJobController]:
    ctx = ControllerContext(client=client, informers=InformerFactory(client), clock=clock)
    ctl = CronJobController(ctx)
    ctl.setup()
    ctx.informers.start()
    await ctx.informers.wait_for_sync(10)
    task = asyncio.create_task(ctl.run())
    try:
        yield ctl
    finally:
        await ctl.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctx.informers.stop()


@contextlib.asynccontextmanager
async def controller() -> AsyncIterator[tuple[Client, FakeClock]]:
    clock = FakeClock(start=time.time())
    async with running_apiserver() as (_srv, client), started(client, clock):
        yield client, clock


def cronjob(name: str = "hello", schedule: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"metadata": {"labels": {"app": name}}, "spec": {
                "template": {"spec": {"restartPolicy": "OnFailure",
                                      "containers": [{"name": "c", "image": "busybox"}]}}}}, **spec}}


async def job_names(client: Client) -> list[str]:
    return sorted(j["metadata"]["name"] for j in (await client.list(JOBS, "default"))["items"]
                  if not j["metadata"].get("deletionTimestamp"))


async def n_jobs(client: Client, n: int) -> list[str] | None:
    names = await job_names(client)
    return names if len(names) == n else None


def to_next_minute(clock: FakeClock, extra: float = 1.0) -> int:
    """Advance the clock just past the next minute boundary; returns that minute (since epoch)."""
    minute = int(clock.time()) // 60 + 1
    clock.advance(minute * 60 - clock.time() + extra)
    return minute


async def reasons(client: Client) -> list[str]:
    return [e["reason"] for e in (await client.list(EVENTS, "default"))["items"]]


async def complete(client: Client, name: str, start: float) -> None:
    j = await client.get(JOBS, name, "default")
    j["status"] = {"startTime": rfc3339(start), "completionTime": rfc3339(start + 1), "succeeded": 1,
                   "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                  {"type": "Complete", "status": "True"}]}
    await client.update_status(JOBS, j)


async def test_fires_on_schedule_with_upstream_name_and_annotation() -> None:
    async with controller() as (client, clock):
        await client.create(CJS, cronjob())
        await asyncio.sleep(0.2)
        assert await job_names(client) == []
        minute = to_next_minute(clock)
        [name] = await wait_for(lambda: n_jobs(client, 1))
        assert name == f"hello-{minute}"
        j = await client.get(JOBS, name, "default")
        assert j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
            datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert j["metadata"]["labels"]["app"] == "hello"
        assert j["metadata"]["ownerReferences"][0]["kind"] == "CronJob"

        async def status() -> dict[str, Any] | None:
            st = (await client.get(CJS, "hello", "default")).get("status") or {}
            return st if st.get("active") and st.get("lastScheduleTime") else None
        st = await wait_for(status)
        assert st["active"][0]["name"] == name and st["lastScheduleTime"] == rfc3339(minute * 60)
        await complete(client, name, minute * 60)

        async def success() -> bool:
            st = (await client.get(CJS, "hello", "default")).get("status") or {}
            return bool(st.get("lastSuccessfulTime")) and not st.get("active")
        await wait_for(success)
        assert "SawCompletedJob" in await reasons(client)


async def test_concurrency_policies() -> None:
    async with controller() as (client, clock):
        for policy in ("Allow", "Forbid", "Replace"):
            await client.create(CJS, cronjob(policy.lower(), concurrencyPolicy=policy))
        first = to_next_minute(clock)
        await wait_for(lambda: n_jobs(client, 3))
        to_next_minute(clock)
        await wait_for(lambda: n_jobs(client, 4))  # allow: 2, forbid: 1, replace: 1 (old one deleted)
        await asyncio.sleep(0.2)
        names = await job_names(client)
        assert [n for n in names if n.startswith("allow-")] == [f"allow-{first}", f"allow-{first + 1}"]
        assert [n for n in names if n.startswith("forbid-")] == [f"forbid-{first}"]
        assert [n for n in names if n.startswith("replace-")] == [f"replace-{first + 1}"]
        assert "JobAlreadyActive" in await reasons(client)


async def test_history_limit_deletes_oldest_finished_jobs() -> None:
    async with controller() as (client, clock):
        await client.create(CJS, cronjob(successfulJobsHistoryLimit=1))
        done: list[str] = []
        for _ in range(3):
            m = to_next_minute(clock)
            await wait_for(lambda m=m: _has(client, f"hello-{m}"))
            await complete(client, f"hello-{m}", m * 60)
            done.append(f"hello-{m}")
        await wait_for(lambda: _eq(job_names(client), done[-1:]))


async def _has(client: Client, name: str) -> bool:
    return name in await job_names(client)


async def _eq(coro: Any, want: Any) -> bool:
    return bool(await coro == want)


async def test_suspend_creates_nothing() -> None:
    async with controller() as (client, clock):
        await client.create(CJS, cronjob(suspend=True))
        to_next_minute(clock)
        await asyncio.sleep(0.3)
        assert await job_names(client) == []
        await client.patch(CJS, "hello", {"spec": {"suspend": False}}, "default")
        to_next_minute(clock)
        await wait_for(lambda: n_jobs(client, 1))


async def test_missed_starting_deadline_skips_that_run() -> None:
    async with controller() as (client, clock):
        await client.create(CJS, cronjob(startingDeadlineSeconds=10))
        await asyncio.sleep(0.1)
        ctl_down_minute = int(clock.time()) // 60 + 1
        clock.advance(ctl_down_minute * 60 - clock.time() + 30)  # 30 s late: past the 10 s deadline
        await asyncio.sleep(0.3)
        assert await job_names(client) == []
        m = to_next_minute(clock, extra=2)
        assert await wait_for(lambda: n_jobs(client, 1)) == [f"hello-{m}"]


def test_too_many_missed_start_times_are_counted_not_enumerated() -> None:
    sched = parse_schedule("* * * * *")
    created = 1_700_000_000.0
    cj = {"metadata": {"creationTimestamp": rfc3339(created)}, "spec": {}}
    recent, missed = most_recent_schedule(cj, created + 200 * 60 + 5, sched)
    assert missed == 200 and recent is not None
    assert recent.timestamp() == (int(created) // 60 + 200) * 60
    assert scheduled_annotation(recent, parse_schedule("TZ=Europe/Berlin * * * * *")).endswith("+01:00")


async def test_restart_creates_nothing_extra() -> None:
    clock = FakeClock(start=time.time())
    async with running_apiserver() as (_srv, client):
        async with started(client, clock):
            await client.create(CJS, cronjob())
            to_next_minute(clock)
            await wait_for(lambda: n_jobs(client, 1))
        async with started(client, clock):
            await asyncio.sleep(0.3)
            assert len(await job_names(client)) == 1
