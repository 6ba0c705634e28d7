"""API errors and their `Status` form.

Every failure the API server returns is a `metav1.Status` with the upstream code and reason
(kubectl prints `Error from server (<reason>): <message>` from it, and clients branch on the
reason). Code in `api/` raises `ApiError`; the HTTP layer turns it into the Status body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class FieldError:
    """One validation failure, as a `StatusCause` (`reason` is the cause type).

    `reason` is one of upstream's field error types: FieldValueRequired, FieldValueInvalid,
    FieldValueNotSupported, FieldValueDuplicate, FieldValueForbidden, FieldValueTooLong,
    FieldValueTooMany, FieldValueTypeInvalid.
    """

    reason: str
    field: str
    message: str

    def to_cause(self) -> dict[str, Any]:
        # Upstream's cause carries the error body without the field path (the path is in
        # `field`); the Status message carries "<path>: <body>".
        body = self.message
        prefix = self.field + ": "
        if self.field and body.startswith(prefix):
            body = body[len(prefix):]
        return {"reason": self.reason, "message": body, "field": self.field}


# Constructors named like upstream's field.Required / field.Invalid / ... so call sites read alike.
def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, f"{path}: Required value" + (f": {detail}" if detail else ""))


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, f"{path}: Invalid value: {_show(value)}: {detail}")


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    quoted = ", ".join(f'"{v}"' for v in valid)
    return FieldError(
        "FieldValueNotSupported", path, f"{path}: Unsupported value: {_show(value)}: supported values: {quoted}"
    )


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, f"{path}: Forbidden: {detail}")


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, f"{path}: Duplicate value: {_show(value)}")


def too_long(path: str, max_len: int) -> FieldError:
    return FieldError("FieldValueTooLong", path, f"{path}: Too long: may not be more than {max_len} bytes")


def type_invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueTypeInvalid", path, f"{path}: Invalid value: {_show(value)}: {detail}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)


@dataclass
class ApiError(Exception):
    """An error with an HTTP code and a Kubernetes reason; rendered as a `Status`."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    causes: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:  # upstream omits an empty (Unknown) reason
            status["reason"] = self.reason
        details = dict(self.details or {})
        if self.causes:
            details["causes"] = [c.to_cause() for c in self.causes]
        if details:
            status["details"] = details
        return status


def _details(name: str | None, group: str, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def qualified(resource: str, group: str) -> str:
    """`pods` or `deployments.apps`: how upstream names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(name, group, resource))


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    _details(name, group, resource))


def conflict(group: str, resource: str, name: str, detail: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {detail}',
                    _details(name, group, resource))


def stale_conflict(group: str, resource: str, name: str) -> ApiError:
    return conflict(group, resource, name,
                    "the object has been modified; please apply your changes to the latest version and try again")


def invalid_object(group: str, kind: str, name: str, causes: list[FieldError]) -> ApiError:
    """422 Invalid: `The Deployment "x" is invalid: spec.replicas: Invalid value: ...`."""
    joined = ", ".join(c.message for c in causes)
    if len(causes) > 1:
        joined = "[" + joined + "]"
    return ApiError(422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {joined}',
                    _details(name, group, kind), causes)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden_error(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def gone(message: str) -> ApiError:
    """410 Expired: compacted history or an old continue token."""
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf ({content_type})')


def too_large(message: str = "the request is too large") -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
