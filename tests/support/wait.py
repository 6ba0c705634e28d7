"""Waiting helpers for tests against a live API server: poll a condition, never sleep blindly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tugboat.api.scheme import ResourceType, default_scheme

_SCHEME = default_scheme()


def rt(group: str, version: str, plural: str) -> ResourceType:
    """A built-in resource type by (group, version, plural)."""
    found = _SCHEME.get(group, version, plural)
    assert found is not None, (group, version, plural)
    return found


async def eventually(fn: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `fn` every 20 ms until it returns something truthy; return that, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


async def settled(fn: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Like `eventually`, but any result other than None/False counts (0 and [] included)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        res = await fn()
        if res is not None and res is not False:
            return res
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in time: {res!r}")
        await asyncio.sleep(0.02)
