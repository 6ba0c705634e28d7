"""Agents learn every API server from `default/kubernetes`, so one `--server` is enough.

Each `tug server` lists itself in the `default/kubernetes` Endpoints while it lives (the lease
endpoint reconciler, tugboat.apiserver.endpoints_reconciler). The agent reads them every 10 s
(upstream's reconcile interval) and sets its client's `servers`: when the server it talks to
dies, the client's failover moves to the next one, certificate checks unchanged (every server
has a certificate from the same cluster CA). The server it was started with stays in the list,
so a cluster whose Endpoints are briefly empty never strands the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Any

log = logging.getLogger("tug.apiservers")
PATH = "/api/v1/namespaces/default/endpoints/kubernetes"


def urls_of(endpoints: dict[str, Any]) -> list[str]:
    out = []
    for subset in endpoints.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or [] if p.get("name", "https") == "https"]
        for addr in subset.get("addresses") or []:
            ip = str(addr.get("ip") or "")
            if not ip:
                continue
            host = f"[{ip}]" if isinstance(ipaddress.ip_address(ip), ipaddress.IPv6Address) else ip
            out += [f"https://{host}:{port}" for port in ports if port]
    return out


def merge(config: Any, learned: list[str], pinned: tuple[str, ...]) -> bool:
    """Set config.servers to the pinned servers plus the learned ones; True when it changed."""
    new = tuple(dict.fromkeys([*(s.rstrip("/") for s in pinned), *learned]))
    if new == tuple(config.servers):
        return False
    config.servers = new
    return True


class ServerList:
    """Keep `client.config.servers` in step with `default/kubernetes` (https servers only)."""

    def __init__(self, client: Any, interval: float = 10.0):
        self.client = client
        self.interval = interval
        cfg = client.config
        self.pinned = tuple(dict.fromkeys([cfg.server.rstrip("/"), *(s.rstrip("/") for s in cfg.servers)]))
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> list[str]:
        """The servers `default/kubernetes` lists (adopted only by an https client: they are https)."""
        learned = urls_of(await self.client.request("GET", PATH))
        if self.client.config.server.startswith("https://") and merge(self.client.config, learned, self.pinned):
            log.info("API servers: %s", ", ".join(self.client.config.servers))
        return learned

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # e.g. the current server just died: failover handles it
                await self.refresh()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="apiserver-list")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
