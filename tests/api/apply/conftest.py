"""Real built-in schemas for the server-side apply tests."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.api import schema as openapi


@pytest.fixture(scope="session")
def deploy_schema() -> dict[str, Any]:
    s = openapi.for_kind("apps", "v1", "Deployment")
    assert s is not None
    return s


@pytest.fixture(scope="session")
def cm_schema() -> dict[str, Any]:
    s = openapi.for_kind("", "v1", "ConfigMap")
    assert s is not None
    return s
