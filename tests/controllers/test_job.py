"""Job and TTL-after-finished controllers against a real in-process API server, with a
FakeClock for back-off, deadlines and TTLs; pod outcomes are simulated through pods/status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.support.apiserver import running_apiserver
from tests.support.wait import settled as wait_for
from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.client.clock import FakeClock
from tugboat.controllers.base import BaseController, ControllerContext
from tugboat.controllers.job import JobController
from tugboat.controllers.job_ttl import TTLAfterFinishedController

S = default_scheme()
PODS = S.get("", "v1", "pods")
JOBS = S.get("batch", "v1", "jobs")
FIN = "batch.kubernetes.io/job-tracking"


@contextlib.asynccontextmanager
async def started(client: Client, clock: FakeClock, *classes: type[BaseController]) -> AsyncIterator[None]:
    ctx = ControllerContext(client=client, informers=InformerFactory(client), clock=clock)
    ctls = [c(ctx) for c in classes]
    for c in ctls:
        c.setup()
    ctx.informers.start()
    await ctx.informers.wait_for_sync(10)
    tasks = [asyncio.create_task(c.run()) for c in ctls]
    try:
        yield
    finally:
        for c in ctls:
            await c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ctx.informers.stop()


@contextlib.asynccontextmanager
async def controllers(*classes: type[BaseController]) -> AsyncIterator[tuple[Client, FakeClock]]:
    clock = FakeClock()
    async with running_apiserver() as (_srv, client), started(client, clock, *classes):
        yield client, clock


def job(name: str = "pi", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


async def live_pods(client: Client) -> list[dict[str, Any]]:
    pods = (await client.list(PODS, "default"))["items"]
    return [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


async def n_live(client: Client, n: int) -> list[dict[str, Any]] | None:
    pods = await live_pods(client)
    return pods if len(pods) == n else None


async def finish(client: Client, pod: dict[str, Any], phase: str) -> None:
    p = await client.get(PODS, pod["metadata"]["name"], "default")
    p["status"] = {"phase": phase}
    await client.update_status(PODS, p)


def cond(j: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (j.get("status") or {}).get("conditions") or () if c["type"] == ctype
                 and c["status"] == "True"), None)


async def job_with(client: Client, ctype: str, name: str = "pi") -> dict[str, Any] | None:
    j = await client.get(JOBS, name, "default")
    return j if cond(j, ctype) else None


async def test_job_retries_a_failure_after_backoff_then_completes() -> None:
    async with controllers(JobController) as (client, clock):
        await client.create(JOBS, job(completions=2, parallelism=1))
        [p1] = await wait_for(lambda: n_live(client, 1))
        assert FIN in p1["metadata"]["finalizers"]
        assert p1["metadata"]["generateName"] == "pi-"
        await finish(client, p1, "Failed")

        async def failed_counted() -> bool:
            st = (await client.get(JOBS, "pi", "default"))["status"]
            return bool(st.get("failed") == 1 and st.get("uncountedTerminatedPods") == {})
        await wait_for(failed_counted)
        p1 = await client.get(PODS, p1["metadata"]["name"], "default")
        assert FIN not in (p1["metadata"].get("finalizers") or [])  # counted: finalizer removed
        await asyncio.sleep(0.2)
        assert await live_pods(client) == []  # 10 s pod-failure back-off
        clock.advance(10)
        [p2] = await wait_for(lambda: n_live(client, 1))
        await finish(client, p2, "Succeeded")
        [p3] = await wait_for(lambda: n_live(client, 1))  # the second completion, no back-off
        await finish(client, p3, "Succeeded")
        j = await wait_for(lambda: job_with(client, "Complete"))
        st = j["status"]
        assert st["succeeded"] == 2 and st["failed"] == 1 and st.get("active", 0) == 0
        assert st["completionTime"] and st["startTime"]
        assert cond(j, "SuccessCriteriaMet")["reason"] == "CompletionsReached"  # type: ignore[index]
        assert cond(j, "Complete")["message"] == "Reached expected number of succeeded pods"  # type: ignore[index]


async def test_backoff_limit_fails_the_job_with_reason() -> None:
    async with controllers(JobController) as (client, clock):
        await client.create(JOBS, job(backoffLimit=1))
        [p] = await wait_for(lambda: n_live(client, 1))
        await finish(client, p, "Failed")

        async def failed(n: int) -> bool:
            return (await client.get(JOBS, "pi", "default"))["status"].get("failed") == n
        await wait_for(lambda: failed(1))
        clock.advance(10)
        [p] = await wait_for(lambda: n_live(client, 1))
        await finish(client, p, "Failed")
        j = await wait_for(lambda: job_with(client, "Failed"))
        c = cond(j, "Failed")
        assert c is not None and c["reason"] == "BackoffLimitExceeded"
        assert c["message"] == "Job has reached the specified backoff limit"
        assert cond(j, "FailureTarget") is not None and "completionTime" not in j["status"]
        assert await live_pods(client) == []


async def test_parallel_pods_and_active_deadline() -> None:
    async with controllers(JobController) as (client, clock):
        await client.create(JOBS, job(parallelism=3, completions=5, activeDeadlineSeconds=30))
        await wait_for(lambda: n_live(client, 3))

        async def active(n: int) -> bool:
            return (await client.get(JOBS, "pi", "default"))["status"].get("active") == n
        await wait_for(lambda: active(3))
        clock.advance(31)
        j = await wait_for(lambda: job_with(client, "Failed"))
        assert cond(j, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
        assert await live_pods(client) == []


async def test_indexed_job_gives_each_pod_its_index() -> None:
    async with controllers(JobController) as (client, _clock):
        await client.create(JOBS, job(completions=3, parallelism=3, completionMode="Indexed"))
        pods = await wait_for(lambda: n_live(client, 3))
        by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in pods}
        assert sorted(by_index) == ["0", "1", "2"]
        p1 = by_index["1"]
        assert p1["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
        assert p1["spec"]["hostname"] == "pi-1" and p1["metadata"]["generateName"] == "pi-1-"
        await finish(client, p1, "Succeeded")

        async def completed(s: str) -> bool:
            st = (await client.get(JOBS, "pi", "default"))["status"]
            return bool(st.get("completedIndexes") == s)
        await wait_for(lambda: completed("1"))
        await finish(client, by_index["0"], "Succeeded")
        await finish(client, by_index["2"], "Failed")
        await wait_for(lambda: completed("0-1"))  # upstream interval form
        _clock.advance(10)
        [again] = await wait_for(lambda: n_live(client, 1))
        assert again["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "2"
        await finish(client, again, "Succeeded")
        j = await wait_for(lambda: job_with(client, "Complete"))
        assert j["status"]["completedIndexes"] == "0-2" and j["status"]["succeeded"] == 3


async def test_suspend_deletes_pods_and_resume_recreates_them() -> None:
    async with controllers(JobController) as (client, _clock):
        await client.create(JOBS, job(parallelism=2, completions=2))
        await wait_for(lambda: n_live(client, 2))
        await client.patch(JOBS, "pi", {"spec": {"suspend": True}}, "default")
        j = await wait_for(lambda: job_with(client, "Suspended"))
        assert cond(j, "Suspended")["reason"] == "JobSuspended"  # type: ignore[index]
        await wait_for(lambda: n_live(client, 0))
        await client.patch(JOBS, "pi", {"spec": {"suspend": False}}, "default")
        await wait_for(lambda: n_live(client, 2))
        assert (await client.get(JOBS, "pi", "default"))["status"].get("failed") is None


async def test_ttl_after_finished_deletes_the_job() -> None:
    async with controllers(JobController, TTLAfterFinishedController) as (client, clock):
        await client.create(JOBS, job(ttlSecondsAfterFinished=100))
        [p] = await wait_for(lambda: n_live(client, 1))
        await finish(client, p, "Succeeded")
        await wait_for(lambda: job_with(client, "Complete"))
        clock.advance(99)
        await asyncio.sleep(0.2)
        j = await client.get(JOBS, "pi", "default")
        assert not j["metadata"].get("deletionTimestamp")

        async def deleting() -> bool:
            try:
                j = await client.get(JOBS, "pi", "default")
            except Exception:
                return True  # gone
            return bool(j["metadata"].get("deletionTimestamp"))  # Foreground: GC finishes it
        clock.advance(2)
        await wait_for(deleting)


async def test_restart_creates_nothing_extra() -> None:
    clock = FakeClock()
    async with running_apiserver() as (_srv, client):
        async with started(client, clock, JobController):
            await client.create(JOBS, job(parallelism=2, completions=4))
            pods = await wait_for(lambda: n_live(client, 2))
            await finish(client, pods[0], "Succeeded")

            async def settled() -> bool:
                st = (await client.get(JOBS, "pi", "default"))["status"]
                return st.get("succeeded") == 1 and st.get("active") == 2
            await wait_for(settled)
        before = sorted(p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"])
        status = (await client.get(JOBS, "pi", "default"))["status"]
        async with started(client, clock, JobController):
            await asyncio.sleep(0.3)
            after = sorted(p["metadata"]["uid"] for p in (await client.list(PODS, "default"))["items"])
            assert after == before
            assert (await client.get(JOBS, "pi", "default"))["status"] == status
