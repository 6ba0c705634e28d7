"""`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`: proxied to the node agent.

Like upstream's pod REST "location" functions: fetch the pod, validate the request (container
name, exec command, pod phase), find its node's agent — `status.addresses` (InternalIP, then
Hostname, then ExternalIP) and `status.daemonEndpoints.kubeletEndpoint.Port` — and build the
kubelet URL (`/containerLogs/…`, `/exec/…?command=…&input=1&output=1&error=1&tty=1`,
`/attach/…`, `/portForward/…`). Logs are streamed back chunk by chunk (proxy_ws.py does the
WebSocket upgrades). Validation errors are plain HTTP Status replies before any upgrade.

The agent requires a client certificate from the cluster CA: `NodeProxy(ssl_context)` takes a
client SSL context presenting one (`kubelet_client_context(pki)` makes the API server's own,
CN `kube-apiserver-kubelet-client`). Agents serve self-signed certificates, so the context does
not verify them unless built with `agent_ca` (upstream: `--kubelet-certificate-authority`).
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .context import Ctx
from .request import Req, Resp, StreamResp

EXTRA_KEY = "node_proxy"
ADDRESS_TYPES = ("InternalIP", "Hostname", "InternalDNS", "ExternalIP", "ExternalDNS")
_TRUE = ("1", "true", "True", "TRUE", "t")
_LOG_PARAMS = ("follow", "previous", "timestamps")


def kubelet_client_context(pki: Any, agent_ca: str | None = None) -> ssl.SSLContext:
    """Client TLS for talking to agents: the API server's kubelet-client certificate."""
    crt, key = pki.client_cert("kube-apiserver-kubelet-client", "kube-apiserver-kubelet-client")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if agent_ca:
        ctx.load_verify_locations(cafile=agent_ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


class NodeProxy:
    def __init__(self, ssl_context: ssl.SSLContext | None):
        self.ssl_context = ssl_context

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl_context or False),
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))


def node_proxy(ctx: Ctx) -> NodeProxy:
    np = ctx.extras.get(EXTRA_KEY)
    if np is None:
        raise ApiError(503, "ServiceUnavailable", "the API server has no credentials for node agents "
                                                  "(kubelet client certificate not configured)")
    assert isinstance(np, NodeProxy)
    return np


def validate_container(pod: dict[str, Any], container: str) -> str:
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name", "")
    if not container:
        cs = spec.get("containers") or []
        if len(cs) == 1:
            return str(cs[0].get("name", ""))
        if not cs:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        all_names = [c.get("name", "") for k in ("initContainers", "containers", "ephemeralContainers")
                     for c in spec.get(k) or []]
        raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(all_names)}]")
    if not any(c.get("name") == container for k in ("initContainers", "containers", "ephemeralContainers")
               for c in spec.get(k) or []):
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


async def agent_base(ctx: Ctx, node_name: str) -> str:
    """`https://host:port` of the node's agent, from the Node object."""
    node_rt = ctx.scheme.get("", "v1", "nodes")
    assert node_rt is not None
    node = await ctx.registry.get(node_rt, "", node_name)
    st = node.get("status") or {}
    addrs = {a.get("type"): a.get("address") for a in reversed(st.get("addresses") or [])}
    host = next((addrs[t] for t in ADDRESS_TYPES if addrs.get(t)), "")
    if not host:
        raise errors.bad_request(f"node {node_name} has no address to reach its agent")
    port = ((st.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{int(port)}"


async def get_pod(ctx: Ctx, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
    return await ctx.registry.get(rt, ns, name)


def _non_negative(req: Req, key: str, minimum: int) -> str | None:
    v = req.param(key)
    if v == "":
        return None
    try:
        n = int(v)
    except ValueError:
        raise errors.bad_request(f"invalid {key}: {v!r}") from None
    if n < minimum:
        word = "greater than or equal to 0" if minimum == 0 else "greater than 0"
        raise ApiError(422, "Invalid", f'PodLogOptions "" is invalid: {key}: Invalid value: {n}: must be {word}')
    return str(n)


async def logs(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp | StreamResp:
    pod = await get_pod(ctx, rt, ns, name)
    container = validate_container(pod, req.param("container"))
    params: list[tuple[str, str]] = [(k, "true") for k in _LOG_PARAMS if req.flag(k)]
    if req.param("sinceSeconds") and req.param("sinceTime"):
        raise ApiError(422, "Invalid", 'PodLogOptions "" is invalid: []: Forbidden: at most one of `sinceTime` '
                                       'or `sinceSeconds` may be specified')
    for key, minimum in (("sinceSeconds", 1), ("tailLines", 0), ("limitBytes", 1)):
        v = _non_negative(req, key, minimum)
        if v is not None:
            params.append((key, v))
    if req.param("sinceTime"):
        params.append(("sinceTime", req.param("sinceTime")))
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        return Resp(200, b"", "text/plain")  # upstream: no host yet, empty log
    np = node_proxy(ctx)
    url = (f"{await agent_base(ctx, node_name)}/containerLogs/{_q(ns)}/{_q(name)}/{_q(container)}"
           f"?{urllib.parse.urlencode(params)}")
    session = np.session()
    try:
        resp = await session.get(url)
    except (aiohttp.ClientError, OSError) as e:
        await session.close()
        raise errors.internal(f"error dialing backend: {e}") from None
    if resp.status != 200:
        body = await resp.read()
        resp.release()
        await session.close()
        raise backend_error(resp.status, body)
    return StreamResp(_relay(session, resp), content_type="text/plain")


async def _relay(session: aiohttp.ClientSession, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    finally:
        resp.release()
        await session.close()


def backend_error(status: int, body: bytes) -> ApiError:
    """The agent's error reply as an ApiError (its Status when it sent one)."""
    try:
        st = orjson.loads(body)
    except orjson.JSONDecodeError:
        st = None
    if isinstance(st, dict) and st.get("kind") == "Status":
        return ApiError(int(st.get("code") or status), str(st.get("reason") or ""), str(st.get("message") or ""))
    text = body.decode("utf-8", "replace").strip() or f"the node agent answered {status}"
    return ApiError(status if 400 <= status < 600 else 502, "BadRequest" if status == 400 else "", text)


def _q(s: str) -> str:
    return urllib.parse.quote(s, safe="")
