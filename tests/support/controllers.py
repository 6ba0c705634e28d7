"""Run chosen controllers against the in-process API server, the way the manager would
(setup → start informers → wait for sync → run), and stop them cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tugboat.client import Client, InformerFactory
from tugboat.controllers.base import BaseController, ControllerContext

from .apiserver import running_apiserver


@contextlib.asynccontextmanager
async def started(client: Client, *classes: type[BaseController], clock: Any = None) -> AsyncIterator[
        list[BaseController]]:
    """Start instances of `classes` on `client`; yields them."""
    ctx = ControllerContext(client, InformerFactory(client), **({"clock": clock} if clock is not None else {}))
    ctls = [c(ctx) for c in classes]
    for c in ctls:
        c.setup()
    ctx.informers.start()
    assert await ctx.informers.wait_for_sync(10)
    tasks = [asyncio.create_task(c.run()) for c in ctls]
    try:
        yield ctls
    finally:
        for c in ctls:
            await c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ctx.informers.stop()


@contextlib.asynccontextmanager
async def running_controllers(*classes: type[BaseController], clock: Any = None,
                              **client_kw: Any) -> AsyncIterator[Client]:
    """A fresh in-process API server with `classes` running against it; yields the client."""
    async with running_apiserver(**client_kw) as (_srv, client), started(client, *classes, clock=clock):
        yield client
