from __future__ import annotations

from tests.client.fakeserver import FakeApiServer
from tugboat.client.clock import FakeClock
from tugboat.client.events import EVENT, EventRecorder
from tugboat.client.rest import Client

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "resourceVersion": "7"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u-n"}}


async def test_event_created_then_aggregated(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    clock = FakeClock()
    rec = EventRecorder(c, "default-scheduler", host="h1", clock=clock)
    ev = await rec.event(POD, "Warning", "FailedScheduling", "0/3 nodes are available")
    assert ev is not None
    assert ev["metadata"]["namespace"] == "prod" and ev["metadata"]["name"].startswith("web-1.")
    assert ev["involvedObject"] == {"kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u-1",
                                    "apiVersion": "v1", "resourceVersion": "7"}
    assert ev["source"] == {"component": "default-scheduler", "host": "h1"}
    assert ev["count"] == 1 and ev["firstTimestamp"] == ev["lastTimestamp"]
    clock.advance(60)
    again = await rec.event(POD, "Warning", "FailedScheduling", "0/3 nodes are available")
    assert again is not None and again["metadata"]["name"] == ev["metadata"]["name"]
    assert again["count"] == 2 and again["lastTimestamp"] > again["firstTimestamp"]
    await rec.event(POD, "Warning", "FailedScheduling", "a different message")
    assert len(api.objects("events")) == 2


async def test_cluster_scoped_object_goes_to_default_and_expired_event_recreated(
        fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    rec = EventRecorder(c, "kubelet")
    ev = await rec.event(NODE, "Normal", "NodeReady", "ready")
    assert ev is not None and ev["metadata"]["namespace"] == "default"
    await c.delete(EVENT, ev["metadata"]["name"], "default")  # TTL expired it
    again = await rec.event(NODE, "Normal", "NodeReady", "ready")
    assert again is not None and again["count"] == 1


async def test_failures_are_swallowed_and_emit_flushes(fake: tuple[FakeApiServer, Client]) -> None:
    api, c = fake
    c.max_retries = 0
    rec = EventRecorder(c, "x")
    api.fail("POST", 500, times=1)
    assert await rec.event(POD, "Normal", "R", "m") is None
    rec.emit(POD, "Normal", "R", "m2")
    await rec.flush()
    assert [e["message"] for e in api.objects("events")] == ["m2"]

