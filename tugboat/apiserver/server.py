"""The HTTP edge: aiohttp app, TLS, authentication, body limits, Status errors, streaming.

Everything below this module is framework-neutral (`Req` → `Resp`/`StreamResp`). `ApiServer`
owns the pieces (registry, watch cache, allocators, CRD manager, namespace finalizer),
bootstraps the system namespaces and the `kubernetes` Service, and serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType, Scheme, default_scheme
from tugboat.store.backend import Backend
from tugboat.util.clock import Clock

from . import dispatch, nonresource
from .admission import SYSTEM_NAMESPACES, NamespaceLifecycle
from .admission_priority import PriorityAdmission, system_priority_classes
from .admission_tolerations import DefaultTolerationSeconds
from .allocators import Allocators
from .auth import AllowAuthenticated, Authenticator, Authorizer, CertAuthenticator, StaticTokenAuthenticator
from .context import Config, Ctx
from .crds import CrdManager
from .decode import read_limited
from .gcfinalizers import GcFinalizers
from .nsfinalizer import NamespaceFinalizer
from .proxy_ws import UpgradeResp
from .registry import Registry, WriteOpts
from .request import ANONYMOUS, Req, Resp, StreamResp, UserInfo, error_resp
from .requestinfo import parse
from .watchcache import WatchCache

log = logging.getLogger(__name__)
ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiServer:
    def __init__(self, backend: Backend, *, scheme: Scheme | None = None, clock: Clock | None = None,
                 config: Config | None = None, authenticate: bool = True, authorizer: Authorizer | None = None,
                 tokens: dict[str, UserInfo] | None = None):
        self.backend = backend
        self.scheme = scheme or default_scheme()
        self.clock = clock or Clock()
        registry = Registry(backend, self.scheme, self.clock)
        self.ctx = Ctx(backend, self.scheme, registry, WatchCache(backend), self.clock, config or Config())
        self.authenticate = authenticate
        self.tokens = tokens or {}
        # Tried in order; the first that recognises the request decides who it is.
        self.authenticators: list[Authenticator] = [CertAuthenticator(), StaticTokenAuthenticator(self.tokens)]
        self.authorizer = authorizer or AllowAuthenticated()
        self.allocators = Allocators(registry, self.ctx.config.service_cidr, self.ctx.config.node_port_range)
        self.crds = CrdManager(self.ctx)
        self.nsfinalizer = NamespaceFinalizer(self.ctx)
        self.gc = GcFinalizers(self.ctx)
        self.ctx.extras.update(crds=self.crds, nsfinalizer=self.nsfinalizer, allocators=self.allocators, ready=False)
        self.default_tolerations = DefaultTolerationSeconds()  # 300 s; set its seconds_* for fast failover
        registry.admit_hooks += [NamespaceLifecycle(registry), self.default_tolerations, PriorityAdmission(registry),
                                 self.crds.admit, self.allocators.admit]
        registry.commit_hooks += [self.allocators.committed, self.crds.committed, self._gc_committed]
        self._compactor: Any = None

    async def _gc_committed(self, op: str, rt: ResourceType, new: Any, old: Any) -> None:
        if self.ctx.config.gc_finalizers:
            await self.gc.committed(op, rt, new, old)

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self, *, compact: bool = False) -> None:
        """Backend must already be started. Loads state, bootstraps, starts background tasks.

        Backends opened with `open_backend` compact themselves (store/compactor.py); pass
        compact=True only for a backend built without its own compactor."""
        await self.allocators.load()
        await self.crds.load()
        await self._bootstrap()
        self.nsfinalizer.start()
        await self.nsfinalizer.requeue_terminating()
        if compact:
            from tugboat.store.compactor import Compactor
            self._compactor = Compactor(self.backend)
            self._compactor.start()
        self.ctx.extras["ready"] = True

    async def stop(self) -> None:
        self.ctx.extras["ready"] = False
        if self._compactor is not None:
            await self._compactor.stop()
        await self.nsfinalizer.stop()
        await self.crds.stop()
        await self.gc.stop()
        await self.ctx.watch.stop()

    async def _bootstrap(self) -> None:
        reg = self.ctx.registry
        ns_rt = self.scheme.get("", "v1", "namespaces")
        assert ns_rt is not None
        for name in SYSTEM_NAMESPACES:
            with contextlib.suppress(ApiError):
                if await reg.get_kv(ns_rt, "", name) is None:
                    await reg.create(ns_rt, "", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": name}}, WriteOpts())
        pc_rt = self.scheme.get("scheduling.k8s.io", "v1", "priorityclasses")
        assert pc_rt is not None
        for pc in system_priority_classes():
            if await reg.get_kv(pc_rt, "", pc["metadata"]["name"]) is None:
                with contextlib.suppress(ApiError):
                    await reg.create(pc_rt, "", pc, WriteOpts())
        host, _, port = self.ctx.config.external_address.rpartition(":")
        svc_rt = self.scheme.get("", "v1", "services")
        ep_rt = self.scheme.get("", "v1", "endpoints")
        assert svc_rt is not None and ep_rt is not None
        if await reg.get_kv(svc_rt, "default", "kubernetes") is None:
            with contextlib.suppress(ApiError):
                await reg.create(svc_rt, "default", {
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "namespace": "default",
                                 "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {"type": "ClusterIP", "clusterIP": self.allocators.kubernetes_ip,
                             "sessionAffinity": "None",
                             "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                        "targetPort": int(port or 6443)}]}}, WriteOpts())
        ep = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
              "subsets": [{"addresses": [{"ip": host if host not in ("", "0.0.0.0") else "127.0.0.1"}],
                           "ports": [{"name": "https", "port": int(port or 6443), "protocol": "TCP"}]}]}
        with contextlib.suppress(ApiError):
            await reg.update(ep_rt, "default", "kubernetes", ep, WriteOpts(create_on_update=True))

    # ---- HTTP ------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _user(self, request: web.Request) -> UserInfo:
        if not self.authenticate:
            return ADMIN
        tr = request.transport
        cert = tr.get_extra_info("peercert") if tr is not None else None
        for authn in self.authenticators:
            user = await authn(request.headers, cert)
            if user is not None:
                return user
        # A bearer token that is present but unknown stays anonymous (401 outside health).
        return ANONYMOUS

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        try:
            info = parse(method, request.path, request.query)
            req = Req(method, info, request.query, request.headers, b"", await self._user(request),
                      {"dryRun": request.query.getall("dryRun", [])})
            if not info.is_resource:
                if not req.user.authenticated and (request.path.rstrip("/") or "/") not in nonresource.ANONYMOUS_PATHS:
                    raise errors.unauthorized()
                resp: Resp | StreamResp | UpgradeResp = nonresource.handle(self.ctx, req)
            else:
                await self.authorizer.authorize(req)
                if method in _BODY_METHODS:
                    req.body = await read_limited(request.content_length, request.content.iter_chunked(65536))
                resp = await dispatch.handle(self.ctx, req)
        except ApiError as e:
            resp = error_resp(e)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the goal: never reached by any input
            log.exception("internal error on %s %s", method, request.path_qs)
            resp = error_resp(errors.internal(f"{type(e).__name__}: {e}"))
        if isinstance(resp, StreamResp):
            return await self._stream(request, resp)
        if isinstance(resp, UpgradeResp):  # exec/attach/portforward: proxy_ws.py takes the connection
            return await resp.serve(request)
        headers = dict(resp.headers)
        headers["Content-Type"] = resp.content_type
        if resp.status == 304:
            return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        body = b"" if method == "HEAD" else resp.body
        return web.Response(status=resp.status, body=body, headers=headers)

    async def _stream(self, request: web.Request, resp: StreamResp) -> web.StreamResponse:
        sr = web.StreamResponse(status=resp.status, headers={"Content-Type": resp.content_type, **resp.headers})
        sr.enable_chunked_encoding()
        chunks = resp.chunks
        try:
            await sr.prepare(request)
            async for chunk in chunks:
                await sr.write(chunk)
            await sr.write_eof()
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return sr


def tls_context(pki_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(pki_dir / "server.crt"), str(pki_dir / "server.key"))
    ctx.load_verify_locations(str(pki_dir / "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def serve(server: ApiServer, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> web.AppRunner:
    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, backlog=1024, reuse_address=True)
    await site.start()
    return runner
