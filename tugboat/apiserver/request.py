"""The framework-neutral request/response objects handlers work on.

`server.py` (aiohttp) builds a `Req` from the HTTP request — with the body already read
under the size limit — and turns a `Resp` or `StreamResp` back into HTTP. Handlers never
see aiohttp, which keeps them unit-testable and the framework replaceable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tugboat.api.errors import ApiError

from .requestinfo import RequestInfo

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    # authentication.k8s.io `extra` (service-account tokens carry the bound pod's name/uid here)
    extra: Mapping[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def authenticated(self) -> bool:
        return self.name != "system:anonymous"


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


@dataclass(slots=True)
class Req:
    method: str
    info: RequestInfo
    query: Mapping[str, str]
    headers: Mapping[str, str]  # case-insensitive mapping from the edge
    body: bytes = b""
    user: UserInfo = ANONYMOUS
    query_all: Mapping[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    def flag(self, name: str) -> bool:
        return self.query.get(name, "") in ("1", "true", "True", "TRUE", "t")

    @property
    def dry_run(self) -> bool:
        return bool(self.query_all.get("dryRun")) or bool(self.query.get("dryRun"))


@dataclass(slots=True)
class Resp:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StreamResp:
    """A chunked response: each yielded chunk is written and flushed."""

    chunks: AsyncIterator[bytes]
    content_type: str = JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def json_resp(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Resp:
    return Resp(status, orjson.dumps(obj), JSON, headers or {})


def error_resp(err: ApiError) -> Resp:
    return Resp(err.code, orjson.dumps(err.to_status()), JSON, dict(err.headers))


def warning_header(messages: list[str]) -> str:
    """`Warning: 299 - "text"` values, comma-joined (HTTP allows a list in one header)."""
    out = []
    for m in messages:
        esc = m.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'299 - "{esc}"')
    return ", ".join(out)
