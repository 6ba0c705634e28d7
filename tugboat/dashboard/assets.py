"""Serve the dashboard's static files: framework-neutral, read once, cached with ETags.

Why here and not in the API server: the files are pure data (HTML, CSS, plain ES modules and
two vendored MIT libraries) and the server only needs `serve(path, headers)` → status, body,
headers. Anonymous users may load these files (the page itself is not secret, and it shows a
sign-in form); every API call the page makes carries the user's credentials. The strict
Content-Security-Policy allows scripts only from this origin, so an object's name or a log
line can never run as script even if a view forgot to escape it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon"}
# connect-src * : the user may add other clusters' API endpoints as contexts (they need CORS).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self' https: wss: http: ws:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


@dataclass(frozen=True, slots=True)
class Asset:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


@lru_cache(maxsize=64)
def _load(rel: str) -> tuple[bytes, str, str] | None:
    """(body, content type, etag) of a file under static/, None when absent or outside it."""
    if any(part in ("", ".", "..") or part.startswith(".") for part in rel.split("/")):
        return None
    path = (STATIC / rel).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        return None
    body = path.read_bytes()
    ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return body, ctype, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def serve(path: str, method: str = "GET", if_none_match: str = "") -> Asset:
    """The response for GET/HEAD `path` (which starts with /dashboard)."""
    if method not in ("GET", "HEAD"):
        return Asset(405, b"method not allowed\n", "text/plain; charset=utf-8", {"Allow": "GET, HEAD"})
    if path == PREFIX:  # relative module URLs need the trailing slash
        return Asset(301, b"", "text/plain; charset=utf-8", {"Location": PREFIX + "/"})
    rel = path[len(PREFIX) + 1:] or "index.html"
    got = _load(rel)
    if got is None:
        return Asset(404, b"not found\n", "text/plain; charset=utf-8", dict(SECURITY_HEADERS))
    body, ctype, etag = got
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match == etag:
        return Asset(304, b"", ctype, headers)
    return Asset(200, body if method == "GET" else b"", ctype, headers)
