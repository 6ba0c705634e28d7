"""Helpers for the server-side apply tests: apply configurations and managedFields lookups."""

from __future__ import annotations

from typing import Any

import orjson

T0, T1, T2 = "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"


def copy(obj: Any) -> Any:
    return orjson.loads(orjson.dumps(obj))


def deployment(containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """An apply configuration for Deployment `d` (only the fields given)."""
    body: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "d", "namespace": "default"}}
    s = dict(spec)
    if containers is not None:
        s["template"] = {"spec": {"containers": containers}}
    if s:
        body["spec"] = s
    return body


def entry(obj: dict[str, Any], manager: str, operation: str | None = None,
          subresource: str = "") -> Any:
    for e in obj["metadata"].get("managedFields") or []:
        if e.get("manager") == manager and (operation is None or e["operation"] == operation) \
                and e.get("subresource", "") == subresource:
            return e
    return None


def fields(obj: dict[str, Any], manager: str, operation: str | None = None, subresource: str = "") -> str:
    e = entry(obj, manager, operation, subresource)
    return orjson.dumps(e["fieldsV1"]).decode() if e else ""
