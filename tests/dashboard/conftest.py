"""Fixtures of the dashboard's browser tests in this directory: one `tug server` with static
tokens and one headless chromium per module, a signed-in page and a fresh namespace per test.
The browser tests skip (with the reason) where chromium or playwright is missing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard import harness
from tests.e2e.conftest import TugServer


@pytest.fixture(scope="module")
def srv() -> Iterator[TugServer]:
    why = harness.skip_reason()
    if why:
        pytest.skip(why)
    with harness.token_server() as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[harness.Browser]:
    why = harness.skip_reason()
    if why:
        pytest.skip(why)
    with harness.chromium() as b:
        yield b


@pytest.fixture
def page(browser: harness.Browser, srv: TugServer) -> Iterator[Any]:
    p = browser.page()
    harness.sign_in(p, srv)
    p.wait_for_selector("#ov-phase .tile")
    yield p
    assert p.js_errors == []
    p.context.close()


@pytest.fixture
def ns(srv: TugServer) -> Iterator[str]:
    name = "dash-" + uuid.uuid4().hex[:6]
    srv.kubectl("create", "namespace", name)
    yield name
    srv.kubectl("delete", "namespace", name, "--wait=false", check=False)
