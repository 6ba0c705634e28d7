"""Cross-origin requests (upstream's `--cors-allowed-origins`), for browser clients such as a
dashboard served by another cluster that switches to this one.

Off unless origins are configured. An `Origin` matching one of the regular expressions gets
upstream's CORS headers; a preflight `OPTIONS` from it is answered 204 here and never reaches
authentication. Credentials travel in the `Authorization` header (bearer tokens), so there
are no cookies for another site to ride on.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ALLOW_METHODS = "POST, GET, OPTIONS, PUT, DELETE, PATCH"
ALLOW_HEADERS = ("Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, X-Requested-With, "
                 "If-Modified-Since")


def cors_middleware(allowed: Sequence[str]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    patterns = [re.compile(p) for p in allowed]

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        if not origin or not any(p.search(origin) for p in patterns):
            return await handler(request)
        headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ALLOW_METHODS,
                   "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Expose-Headers": "Date",
                   "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
        if request.method == "OPTIONS":
            return web.Response(status=204, headers=headers)
        resp = await handler(request)
        if not resp.prepared:  # streamed responses (watch, logs) set theirs below
            resp.headers.update(headers)
        return resp

    return middleware


def stream_headers(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    """CORS headers for a response that is prepared (streamed) before the middleware sees it."""
    origin = request.headers.get("Origin", "")
    if origin and any(re.search(p, origin) for p in allowed):
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
                "Access-Control-Expose-Headers": "Date", "Vary": "Origin"}
    return {}
