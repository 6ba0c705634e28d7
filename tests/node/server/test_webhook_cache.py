"""WebhookAuth caches answers like the kubelet: tokens 2 min, allowed 5 min, denied 30 s."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.node.server.auth import request_attributes
from tugboat.node.server.webhook import Caller, ReviewError, WebhookAuth


class FakeApi:
    def __init__(self) -> None:
        self.allowed: set[str] = set()
        self.tokens = {"good": {"username": "system:serviceaccount:ns:sa", "uid": "u1",
                                "groups": ["system:serviceaccounts", "system:authenticated"]}}
        self.down = False

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        if self.down:
            raise OSError("connection refused")
        if body["kind"] == "TokenReview":
            user = self.tokens.get(body["spec"]["token"])
            return {"status": {"authenticated": True, "user": user} if user else {"error": "invalid"}}
        return {"status": {"allowed": body["spec"]["user"] in self.allowed}}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_decisions_are_cached_for_their_ttl() -> None:
    api, clock = FakeApi(), Clock()
    auth = WebhookAuth(api, clock=clock)
    alice = Caller("alice", ("system:authenticated",))
    assert (await auth.authorize(alice, "get", "n1", "proxy"))[0] is False
    api.allowed.add("alice")
    clock.now += 29
    assert (await auth.authorize(alice, "get", "n1", "proxy"))[0] is False  # denial still cached
    clock.now += 2
    assert (await auth.authorize(alice, "get", "n1", "proxy"))[0] is True
    api.allowed.clear()
    clock.now += 299
    assert (await auth.authorize(alice, "get", "n1", "proxy"))[0] is True  # allowance cached 5 min
    assert (await auth.authorize(alice, "create", "n1", "proxy"))[0] is False  # another verb: own entry
    clock.now += 2
    assert (await auth.authorize(alice, "get", "n1", "proxy"))[0] is False
    assert auth.reviews == 4


async def test_tokens_are_reviewed_once_per_ttl_and_failures_are_not_cached() -> None:
    api, clock = FakeApi(), Clock()
    auth = WebhookAuth(api, clock=clock)
    user = await auth.authenticate_token("good")
    assert user == Caller("system:serviceaccount:ns:sa", ("system:serviceaccounts", "system:authenticated"), "u1")
    assert await auth.authenticate_token("bad") is None
    api.down = True
    assert await auth.authenticate_token("good") == user  # from the cache
    with pytest.raises(ReviewError):
        await auth.authenticate_token("other")
    clock.now += 121
    with pytest.raises(ReviewError):
        await auth.authenticate_token("good")
    api.down = False
    assert await auth.authenticate_token("good") == user


def test_request_attributes_follow_the_kubelet() -> None:
    assert request_attributes("GET", "/containerLogs/ns/p/c") == ("get", "proxy")
    assert request_attributes("POST", "/exec/ns/p/c") == ("create", "proxy")
    assert request_attributes("POST", "/portForward/ns/p") == ("create", "proxy")
    assert request_attributes("GET", "/stats/summary") == ("get", "stats")
    assert request_attributes("GET", "/metrics/cadvisor") == ("get", "metrics")
    assert request_attributes("GET", "/logs/syslog") == ("get", "log")
    assert request_attributes("GET", "/logsx") == ("get", "proxy")
    assert request_attributes("HEAD", "/healthz") == ("", "proxy")


def test_bearer_token_from_header_or_websocket_subprotocol() -> None:
    from aiohttp.test_utils import make_mocked_request

    from tugboat.node.server.auth import bearer_token

    assert bearer_token(make_mocked_request("GET", "/x", headers={"Authorization": "Bearer abc"})) == "abc"
    ws = {"Sec-WebSocket-Protocol": "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.YWJjLmRlZg"}
    assert bearer_token(make_mocked_request("GET", "/x", headers=ws)) == "abc.def"
    assert bearer_token(make_mocked_request("GET", "/x", headers={"Authorization": "Basic Zm9v"})) is None
