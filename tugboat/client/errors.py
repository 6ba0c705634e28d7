"""Errors the client raises, carrying the server's `Status` so callers branch on reason/code.

`ApiStatusError` is an `ApiError` (same code/reason/message fields the server raises), so code
that runs both in-process and over HTTP can catch one type. The `is_*` helpers mirror
client-go's `apierrors.IsNotFound` & co.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tugboat.api.errors import ApiError

# client-go's NewGenericServerResponse: the reason used when the body is not a Status.
_REASON_BY_CODE = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
    503: "ServiceUnavailable", 504: "Timeout",
}


@dataclass
class ApiStatusError(ApiError):
    """A non-2xx response (or a watch ERROR event). `status` is the parsed Status body."""

    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: dict[str, Any], http_code: int | None = None) -> ApiStatusError:
        code = int(status.get("code") or http_code or 500)
        reason = status.get("reason") or _REASON_BY_CODE.get(code, "Unknown")
        message = status.get("message") or f"the server responded with the status code {code}"
        return cls(code, reason, message, status.get("details"), status=status)

    @classmethod
    def from_response(cls, http_code: int, body: bytes, parsed: Any = None) -> ApiStatusError:
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            return cls.from_status(parsed, http_code)
        text = body.decode("utf-8", "replace").strip()[:1024]
        reason = _REASON_BY_CODE.get(http_code, "Unknown")
        message = text or f"the server responded with the status code {http_code} but did not return more information"
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": http_code}
        return cls(http_code, reason, message, status=status)

    def __str__(self) -> str:
        return self.message


def _reason(e: BaseException) -> str | None:
    return e.reason if isinstance(e, ApiError) else None


def is_not_found(e: BaseException) -> bool:
    return _reason(e) == "NotFound"


def is_already_exists(e: BaseException) -> bool:
    return _reason(e) == "AlreadyExists"


def is_conflict(e: BaseException) -> bool:
    return _reason(e) == "Conflict"


def is_invalid(e: BaseException) -> bool:
    return _reason(e) == "Invalid"


def is_expired(e: BaseException) -> bool:
    """410: a resourceVersion or continue token older than the server's history."""
    return isinstance(e, ApiError) and (e.code == 410 or e.reason in ("Expired", "Gone"))


def is_too_large_resource_version(e: BaseException) -> bool:
    """504 with cause ResourceVersionTooLarge: the server has not caught up to that RV yet."""
    if not isinstance(e, ApiError) or e.code != 504:
        return False
    for c in (e.details or {}).get("causes") or []:
        if isinstance(c, dict) and c.get("reason") == "ResourceVersionTooLarge":
            return True
    return "Too large resource version" in e.message


def is_too_many_requests(e: BaseException) -> bool:
    return isinstance(e, ApiError) and e.code == 429
