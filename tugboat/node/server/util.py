"""Small pieces every agent-server handler uses: the app key for the agent, Status replies."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

AGENT: web.AppKey[Any] = web.AppKey("tugboat.agent", object)


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def status_response(code: int, reason: str, message: str) -> web.Response:
    return web.Response(status=code, body=orjson.dumps(status_body(code, reason, message)),
                        content_type="application/json")
