"""Builders for Node and Pod dicts, and a wait helper, shared by the scheduler tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[dict[str, Any]] | None = None, unschedulable: bool = False,
         extra: dict[str, str] | None = None, images: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi", **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec, "status": {"allocatable": alloc, "capacity": alloc, "images": images or []}}


def pod(name: str, cpu: str | None = "100m", memory: str | None = None, ns: str = "default", *,
        labels: dict[str, str] | None = None, spec: dict[str, Any] | None = None,
        extra: dict[str, str] | None = None, node_name: str = "", priority: int | None = None,
        uid: str = "", image: str = "busybox") -> dict[str, Any]:
    req: dict[str, str] = {}
    if cpu:
        req["cpu"] = cpu
    if memory:
        req["memory"] = memory
    req.update(extra or {})
    container: dict[str, Any] = {"name": "c", "image": image}
    if req:
        container["resources"] = {"requests": req, **({"limits": dict(extra)} if extra else {})}
    s: dict[str, Any] = {"containers": [container], **(spec or {})}
    if node_name:
        s["nodeName"] = node_name
    if priority is not None:
        s["priority"] = priority
    md: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}}
    if uid:
        md["uid"] = uid
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": s}


async def wait_for(cond: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `cond` until it returns something truthy; fail with the last value on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = await cond()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
