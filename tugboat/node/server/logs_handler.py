"""`GET /containerLogs/{namespace}/{pod}/{container}` — the kubelet's log endpoint.

Query parameters are upstream's PodLogOptions as the API server forwards them: follow,
previous, timestamps, tailLines, sinceSeconds, sinceTime (RFC 3339), limitBytes, stream
(Stdout|Stderr|All). The body is the container's raw output, `text/plain`, written and flushed
chunk by chunk; a follow ends when the container has exited and its log is drained (kubectl
exits at EOF). Errors are metav1.Status JSON with upstream's kubelet wording.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping

from aiohttp import web

from tugboat.node.logs import LogOptions, parse_time_ns, read_log
from tugboat.node.runtime.base import ContainerStatus
from tugboat.node.server.lookup import Target, Unavailable, find_container, log_path, waiting_reason
from tugboat.node.server.util import AGENT, status_response

_TRUE = ("1", "true", "True", "TRUE", "t")


def parse_options(q: Mapping[str, str], now: float) -> LogOptions:
    """LogOptions from the query; raises Unavailable(400) for malformed values."""
    def num(key: str) -> int | None:
        v = q.get(key)
        if v in (None, ""):
            return None
        try:
            n = int(str(v))
        except ValueError:
            raise Unavailable(400, "BadRequest", f"invalid {key}: {v!r}") from None
        if n < 0 or (key != "tailLines" and n == 0):
            raise Unavailable(400, "BadRequest", f"{key}: Invalid value: {n}: must be greater than 0")
        return n

    since_ns = None
    if q.get("sinceTime"):
        try:
            since_ns = parse_time_ns(str(q["sinceTime"]))
        except ValueError:
            raise Unavailable(400, "BadRequest", f"invalid sinceTime: {q['sinceTime']!r}") from None
    secs = num("sinceSeconds")
    if secs is not None:
        since_ns = int((now - secs) * 1e9)
    stream = str(q.get("stream") or "All")
    streams = {"All": {"stdout", "stderr"}, "Stdout": {"stdout"}, "Stderr": {"stderr"}}.get(stream)
    if streams is None:
        raise Unavailable(400, "BadRequest", f"invalid stream: {stream!r}")
    return LogOptions(follow=q.get("follow") in _TRUE, tail_lines=num("tailLines"), since_ns=since_ns,
                      timestamps=q.get("timestamps") in _TRUE, limit_bytes=num("limitBytes"),
                      streams=frozenset(streams))


async def container_logs(request: web.Request) -> web.StreamResponse:
    agent = request.app[AGENT]
    ns, name, cname = (request.match_info[k] for k in ("namespace", "pod", "container"))
    try:
        opts = parse_options(request.query, time.time())
        target = await find_container(agent, ns, name, cname)
        previous = request.query.get("previous") in _TRUE
        st = _pick(target, previous)
    except Unavailable as e:
        return status_response(e.code, e.reason, e.message)
    path = log_path(agent, target, st)

    async def running() -> bool:
        cur = await agent.runtime.container_status(st.id)
        return cur is not None and cur.state in ("running", "created")

    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    chunks: AsyncGenerator[bytes, None] = read_log(path, opts, None if previous else running)
    try:
        async for chunk in chunks:
            await resp.write(chunk)
    except (ConnectionError, OSError):
        return resp
    finally:
        await chunks.aclose()
    await resp.write_eof()
    return resp


def _pick(target: Target, previous: bool) -> ContainerStatus:
    name, pod = target.container, (target.pod.get("metadata") or {}).get("name", "")
    if previous:
        if target.previous is None:
            raise Unavailable(400, "BadRequest", f'previous terminated container "{name}" in pod "{pod}" not found')
        return target.previous
    if target.latest is None:
        raise Unavailable(400, "BadRequest",
                          f'container "{name}" in pod "{pod}" is waiting to start: {waiting_reason(target)}')
    return target.latest
