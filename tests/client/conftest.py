from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from tests.client.fakeserver import FakeApiServer
from tugboat.client.config import Config
from tugboat.client.rest import Client


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeApiServer, Client]]:
    api = FakeApiServer(bookmark_interval=0.2)
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    client = Client(Config(server=f"http://127.0.0.1:{server.port}"), component="test", retry_base=0.01,
                    qps=1000, burst=1000)
    try:
        yield api, client
    finally:
        await client.close()
        await server.close()
