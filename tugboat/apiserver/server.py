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

from tugboat import dashboard
from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType, Scheme, default_scheme
from tugboat.store.backend import Backend
from tugboat.util import gctune
from tugboat.util.clock import Clock

from . import dispatch, nonresource, watch_ws
from .admission import SYSTEM_NAMESPACES, NamespaceLifecycle
from .admission_limitranger import LimitRanger
from .admission_noderestriction import NodeRestriction
from .admission_podsecurity import PodSecurityAdmission
from .admission_priority import PriorityAdmission, system_priority_classes
from .admission_quota import ResourceQuotaAdmission
from .admission_storage import StorageAdmission
from .admission_tolerations import DefaultTolerationSeconds
from .admission_vap import ValidatingAdmissionPolicyPlugin
from .admission_webhooks import WebhookAdmission
from .allocators import Allocators
from .audit import REQ_KEY, USER_KEY
from .auth import AllowAuthenticated, Authenticator, Authorizer, CertAuthenticator, StaticTokenAuthenticator
from .auth_ws import WebSocketProtocolAuthenticator
from .authn_bootstrap import BootstrapTokenAuthenticator, registry_secret_getter
from .context import Config, Ctx
from .cors import cors_middleware, stream_headers
from .crds import CrdManager
from .decode import read_limited
from .flowcontrol import FlowControl
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
                 tokens: dict[str, UserInfo] | None = None, authorization_mode: str = "AlwaysAllow"):
        self.backend = backend
        self.scheme = scheme or default_scheme()
        self.clock = clock or Clock()
        registry = Registry(backend, self.scheme, self.clock)
        self.ctx = Ctx(backend, self.scheme, registry, WatchCache(backend), self.clock, config or Config())
        self.authenticate = authenticate
        self.tokens = tokens or {}
        # Tried in order; the first that recognises the request decides who it is.
        self.authenticators: list[Authenticator] = [CertAuthenticator(), StaticTokenAuthenticator(self.tokens)]
        self.authenticators.append(WebSocketProtocolAuthenticator(lambda: self.authenticators))  # browsers
        self.authenticators.append(BootstrapTokenAuthenticator(registry_secret_getter(registry)))  # node join
        self.authorizer = authorizer or AllowAuthenticated()
        self.flowcontrol = FlowControl()  # priority levels (flowcontrol.py); exempt: system:masters
        self.authz = _authorization(registry, authorization_mode, self.ctx.extras)  # authz/ (Node,RBAC)
        if self.authz is not None:
            self.authorizer = authorizer or self.authz.authorizer
        self.allocators = Allocators(registry, self.ctx.config.service_cidr, self.ctx.config.node_port_range)
        self.crds = CrdManager(self.ctx)
        self.nsfinalizer = NamespaceFinalizer(self.ctx)
        self.gc = GcFinalizers(self.ctx)
        self.ctx.extras.update(crds=self.crds, nsfinalizer=self.nsfinalizer, allocators=self.allocators, ready=False)
        self.default_tolerations = DefaultTolerationSeconds()  # 300 s; set its seconds_* for fast failover
        self.pod_security = PodSecurityAdmission(registry)  # .config: defaults and exemptions
        from .csr_admission import csr_user_info
        # Upstream's order: mutating plugins, then validating ones, ResourceQuota last (it charges
        # usage only for writes every other plugin let through). `tug server` inserts the
        # ServiceAccount plugin after LimitRanger (admission_serviceaccount.install).
        registry.admit_hooks += [
            NamespaceLifecycle(registry), LimitRanger(registry), NodeRestriction(), PriorityAdmission(registry),
            self.default_tolerations, StorageAdmission(registry), csr_user_info,
            self.crds.admit, self.allocators.admit,
            WebhookAdmission(registry, mutating=True),
            *([self.authz.escalation] if self.authz is not None else []),  # RBAC's own storage check upstream
            self.pod_security, ValidatingAdmissionPolicyPlugin(registry), WebhookAdmission(registry, mutating=False),
            ResourceQuotaAdmission(registry)]
        registry.commit_hooks += [self.allocators.committed, self.crds.committed, self._gc_committed]
        self._compactor: Any = None
        self.audit: Any = None  # audit.AuditLog (--audit-policy-file); set before app()

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
        if self.authz is not None:
            await self.authz.start()
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
        if self.authz is not None:
            await self.authz.stop()
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
        if "endpoint-reconciler" in self.ctx.extras:  # endpoints_reconciler: every live server, not just us
            return
        with contextlib.suppress(ApiError):
            await reg.update(ep_rt, "default", "kubernetes", ep, WriteOpts(create_on_update=True))

    # ---- HTTP ------------------------------------------------------------------------------
    def app(self) -> web.Application:
        middlewares = [self.audit.middleware] if self.audit is not None else []
        if self.ctx.config.cors_allowed_origins:
            middlewares.insert(0, cors_middleware(self.ctx.config.cors_allowed_origins))
        app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=middlewares)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _user(self, request: web.Request) -> UserInfo:
        if USER_KEY in request:  # already authenticated by the audit middleware
            return request[USER_KEY]
        if not self.authenticate:
            return ADMIN
        tr = request.transport
        cert = tr.get_extra_info("peercert") if tr is not None else None
        for authn in self.authenticators:
            user = await authn(request.headers, cert)
            if user is not None:
                return self._impersonate(request, user)
        # A bearer token that is present but unknown stays anonymous (401 outside health).
        return ANONYMOUS

    def _impersonate(self, request: web.Request, user: UserInfo) -> UserInfo:
        if "Impersonate-User" not in request.headers and "Impersonate-Group" not in request.headers:
            return user
        from .authz.impersonation import impersonate
        return impersonate(request.headers, user, self.authz.authorizer.decide if self.authz else None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        try:
            info = parse(method, request.path, request.query)
            req = Req(method, info, request.query, request.headers, b"", await self._user(request),
                      {"dryRun": request.query.getall("dryRun", [])})
            request[REQ_KEY] = req  # audit.py logs its body
            resp: Resp | StreamResp | UpgradeResp
            if dashboard.is_dashboard_path(request.path):  # static page; its API calls carry the user's token
                a = dashboard.serve(request.path, method, request.headers.get("If-None-Match", ""))
                resp = Resp(a.status, a.body, a.content_type, a.headers)
            elif not info.is_resource:
                if not req.user.authenticated and (request.path.rstrip("/") or "/") not in nonresource.ANONYMOUS_PATHS:
                    raise errors.unauthorized()
                if self.authz is not None and req.user.authenticated:
                    await self.authorizer.authorize(req)
                resp = nonresource.handle(self.ctx, req)
            else:
                async with self.flowcontrol.seat(req.user, info):  # APF: bulk traffic queues apart from leases
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
            if watch_ws.wants_ws(request, resp):  # browsers: a watch per WebSocket, not per HTTP connection
                return await watch_ws.serve(request, resp)
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
        sr = web.StreamResponse(status=resp.status, headers={"Content-Type": resp.content_type, **resp.headers,
                                                             **stream_headers(request, self.ctx.config.cors_allowed_origins)})
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


TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                 "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def tls_context(pki_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)  # TLS 1.2: ECDHE + AEAD only (CIS); TLS 1.3 suites are all AEAD
    ctx.load_cert_chain(str(pki_dir / "server.crt"), str(pki_dir / "server.key"))
    ctx.load_verify_locations(str(pki_dir / "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def serve(server: ApiServer, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> web.AppRunner:
    gctune.tune()  # the watch cache is a large, long-lived heap: no full collection every 70k allocations
    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, backlog=1024, reuse_address=True)
    await site.start()
    return runner


def _authorization(registry: Registry, mode: str, extras: dict[str, Any]) -> Any:
    """Upstream's --authorization-mode: "Node,RBAC" (tug server's default) or "AlwaysAllow"."""
    modes = tuple(m.strip() for m in mode.split(",") if m.strip() and m.strip() != "AlwaysAllow")
    if not modes:
        return None
    from .authz import Authorization
    authz = Authorization(registry, modes)
    extras["authz"] = authz
    return authz
