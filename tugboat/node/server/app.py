"""AgentServer: the aiohttp application and its HTTPS listener (the kubelet's :10250).

Routes (upstream kubelet paths):
  GET  /containerLogs/{namespace}/{pod}/{container}       logs_handler.py
  GET|POST /exec/{namespace}/{pod}/{container}             exec_handler.py (WebSocket)
  GET|POST /attach/{namespace}/{pod}/{container}           exec_handler.py (WebSocket)
  GET  /healthz                                            "ok"
plus whatever `tugboat.node.server.portforward.register(app)` and `….stats.register(app)` add
(imported lazily; a missing module is skipped). The agent is `app[AGENT]`.

`start()` binds (port 0 = any free port, as tests do) and tells the agent's node status the
real port, so the Node advertises it in `status.daemonEndpoints.kubeletEndpoint.Port`.
"""

from __future__ import annotations

import importlib
import logging
import ssl
from typing import Any

from aiohttp import web

from tugboat.node.server.auth import AUTH, authorize
from tugboat.node.server.exec_handler import attach_handler, exec_handler
from tugboat.node.server.logs_handler import container_logs
from tugboat.node.server.util import AGENT
from tugboat.node.server.webhook import WebhookAuth

log = logging.getLogger(__name__)
EXTENSIONS = ("tugboat.node.server.portforward", "tugboat.node.server.stats")
DEFAULT_PORT = 10250


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app(agent: Any) -> web.Application:
    app = web.Application(middlewares=[authorize], client_max_size=1024 * 1024)
    app[AGENT] = agent
    app[AUTH] = WebhookAuth(getattr(agent, "client", None))  # TokenReview/SubjectAccessReview via the API
    r = app.router
    r.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs)
    for path, handler in (("exec", exec_handler), ("attach", attach_handler)):
        r.add_route("GET", f"/{path}/{{namespace}}/{{pod}}/{{container}}", handler)
        r.add_route("POST", f"/{path}/{{namespace}}/{{pod}}/{{container}}", handler)
        r.add_route("GET", f"/{path}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", handler)
        r.add_route("POST", f"/{path}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", handler)
    r.add_get("/healthz", _healthz)
    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        register = getattr(mod, "register", None)
        if register is not None:
            register(app)
    return app


class AgentServer:
    """The agent's HTTPS server. `ssl_context` is required: see auth.py for how to build one."""

    def __init__(self, agent: Any, *, ssl_context: ssl.SSLContext, host: str = "0.0.0.0",
                 port: int = DEFAULT_PORT):
        if ssl_context is None:
            raise ValueError("AgentServer needs TLS with client certificates (auth.server_ssl_context)")
        self.agent = agent
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.app = build_app(agent)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        status = getattr(self.agent, "node_status", None)
        if status is not None:
            status.kubelet_port = self.port
        log.info("node agent server on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
