"""The node agent's token manager: one TokenRequest per pod/projection, bound to the pod,
refreshed at 80 % of the token's life or after 24 h, old token kept while a refresh fails."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.client.clock import FakeClock
from tugboat.node.sa_token import TokenError, TokenManager
from tugboat.util.clock import rfc3339

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {"serviceAccountName": "robot"}}


class FakeApi:
    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    async def request(self, method: str, path: str, *, body: Any = None) -> Any:
        if self.fail:
            raise ConnectionError("apiserver down")
        self.requests.append((path, body))
        exp = body["spec"]["expirationSeconds"]
        return {"spec": body["spec"], "status": {"token": f"tok{len(self.requests)}",
                                                 "expirationTimestamp": rfc3339(self.clock.time() + exp)}}


@pytest.fixture
def env() -> tuple[FakeApi, TokenManager, FakeClock]:
    clock = FakeClock()
    api = FakeApi(clock)
    return api, TokenManager(api, clock, jitter=0), clock


async def test_request_is_bound_to_the_pod_and_cached(env: tuple[FakeApi, TokenManager, FakeClock]) -> None:
    api, tm, clock = env
    proj = {"path": "token", "expirationSeconds": 3607}
    assert await tm.token(POD, proj) == b"tok1"
    path, body = api.requests[0]
    assert path == "/api/v1/namespaces/ns/serviceaccounts/robot/token"
    assert body["spec"] == {"audiences": [], "expirationSeconds": 3607,
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1"}}
    clock.advance(60)
    assert await tm.token(POD, proj) == b"tok1" and len(api.requests) == 1
    assert await tm.token(POD, {"audience": "vault", "expirationSeconds": 3607}) == b"tok2"  # other projection
    assert api.requests[1][1]["spec"]["audiences"] == ["vault"]


async def test_refresh_at_80_percent(env: tuple[FakeApi, TokenManager, FakeClock]) -> None:
    api, tm, clock = env
    proj = {"expirationSeconds": 1000}
    assert await tm.token(POD, proj) == b"tok1"
    clock.advance(799)
    assert await tm.token(POD, proj) == b"tok1"
    clock.advance(2)
    assert await tm.token(POD, proj) == b"tok2"


async def test_refresh_after_24_hours(env: tuple[FakeApi, TokenManager, FakeClock]) -> None:
    api, tm, clock = env
    proj = {"expirationSeconds": 7 * 24 * 3600}
    await tm.token(POD, proj)
    clock.advance(23 * 3600)
    assert await tm.token(POD, proj) == b"tok1"
    clock.advance(3601)
    assert await tm.token(POD, proj) == b"tok2"


async def test_failed_refresh_keeps_a_valid_token(env: tuple[FakeApi, TokenManager, FakeClock]) -> None:
    api, tm, clock = env
    proj = {"expirationSeconds": 1000}
    await tm.token(POD, proj)
    api.fail = True
    clock.advance(900)
    assert await tm.token(POD, proj) == b"tok1"
    clock.advance(101)
    with pytest.raises(TokenError, match="expired and refresh failed"):
        await tm.token(POD, proj)
    with pytest.raises(TokenError, match="failed to fetch token"):
        await tm.token({**POD, "metadata": {**POD["metadata"], "uid": "u2"}}, proj)


async def test_forget_pod(env: tuple[FakeApi, TokenManager, FakeClock]) -> None:
    api, tm, clock = env
    await tm.token(POD, {})
    tm.forget_pod("u1")
    assert tm.cache == {}
    assert await tm.token(POD, {}) == b"tok2"


async def test_projected_volume_against_the_api_server(tmp_path: Any) -> None:
    """The admission-injected kube-api-access volume, written by the VolumeManager with a real
    TokenRequest: the token file authenticates as the pod's service account (TokenReview)."""
    from tests.support.apiserver import running_apiserver
    from tests.support.wait import rt
    from tugboat.apiserver.admission_serviceaccount import ServiceAccountAdmission
    from tugboat.apiserver.satoken import SigningKey, install
    from tugboat.node.volumes import VolumeManager

    async with running_apiserver() as (srv, client):
        install(srv, key=SigningKey.generate())
        srv.ctx.registry.admit_hooks.append(ServiceAccountAdmission(srv.ctx.registry))
        await client.create(rt("", "v1", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                              "metadata": {"name": "default", "namespace": "default"}})
        await client.create(rt("", "v1", "configmaps"), {"apiVersion": "v1", "kind": "ConfigMap",
                                                         "metadata": {"name": "kube-root-ca.crt", "namespace": "default"},
                                                         "data": {"ca.crt": "CA"}})
        pod = await client.create(rt("", "v1", "pods"), {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})

        async def get(kind: str, ns: str, name: str) -> dict[str, Any] | None:
            plural = {"ConfigMap": "configmaps", "Secret": "secrets"}[kind]
            return await client.get(rt("", "v1", plural), name, ns)

        vm = VolumeManager(str(tmp_path))
        vm.tokens = TokenManager(client, FakeClock(start=srv.clock.time()))
        paths = await vm.setup(pod, get)
        [(name, path)] = paths.items()
        assert name.startswith("kube-api-access-")
        token = (tmp_path / path / "token").read_text()
        assert (tmp_path / path / "ca.crt").read_text() == "CA"
        assert (tmp_path / path / "namespace").read_text() == "default"
        review = await client.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", body={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
        user = review["status"]["user"]
        assert user["username"] == "system:serviceaccount:default:default"
        assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
        vm.teardown(pod["metadata"]["uid"])
        assert vm.tokens.cache == {}
