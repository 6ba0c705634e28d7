"""Audit log: policy rules pick the level per request; JSON-lines Events with the stages,
user, objectRef, status and (by level) request/response bodies, like upstream's log backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp.test_utils import TestServer

from tugboat.apiserver.audit import AuditLog, Policy
from tugboat.apiserver.context import Config
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.requestinfo import parse
from tugboat.apiserver.server import ApiServer
from tugboat.store.memory import MemoryBackend

RR = "RequestReceived"
POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
    "rules": [
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "None", "users": ["quiet"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}], "omitStages": [RR]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["configmaps"]}]},
        {"level": "Request", "verbs": ["create", "update", "patch"], "namespaces": ["default"], "omitStages": [RR]},
        {"level": "Metadata", "omitStages": [RR]},
    ]}


@pytest.fixture
async def audited(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path, str]]:
    backend = MemoryBackend()
    await backend.start()
    users = {"t-admin": UserInfo("admin", ("system:masters", "system:authenticated")),
             "t-quiet": UserInfo("quiet", ("system:authenticated",))}
    srv = ApiServer(backend, config=Config(bookmark_interval=1.0), tokens=users)
    log = tmp_path / "audit.log"
    srv.audit = AuditLog(Policy.from_dict(POLICY), str(log), srv._user)
    await srv.start(compact=False)
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    url = f"http://127.0.0.1:{ts.port}"
    c = httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer t-admin", "User-Agent": "test-agent"})
    try:
        yield c, log, url
    finally:
        await c.aclose()
        await ts.close()
        await srv.stop()
        await backend.close()
        srv.audit.close()


def events(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines()] if log.exists() else []


async def test_levels_and_event_shape(audited: tuple[httpx.AsyncClient, Path, str]) -> None:
    c, log, url = audited
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"p": "hunter2"}}
    assert (await c.post("/api/v1/namespaces/default/secrets", json=secret)).status_code == 201
    [ev] = events(log)
    assert ev["kind"] == "Event" and ev["apiVersion"] == "audit.k8s.io/v1"
    assert ev["level"] == "Metadata" and ev["stage"] == "ResponseComplete" and ev["verb"] == "create"
    assert ev["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
    assert ev["objectRef"] == {"resource": "secrets", "namespace": "default", "apiVersion": "v1"}
    assert ev["responseStatus"] == {"metadata": {}, "code": 201}
    assert ev["requestURI"] == "/api/v1/namespaces/default/secrets" and ev["userAgent"] == "test-agent"
    assert ev["sourceIPs"] == ["127.0.0.1"] and ev["requestReceivedTimestamp"].endswith("Z")
    assert b"hunter2" not in log.read_bytes()  # Metadata level: no bodies

    log.write_bytes(b"")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}}
    await c.post("/api/v1/namespaces/default/configmaps", json=cm)
    received, complete = events(log)  # this rule keeps RequestReceived
    assert received["stage"] == "RequestReceived" and received["auditID"] == complete["auditID"]
    assert "responseStatus" not in received
    assert complete["requestObject"]["data"] == {"a": "b"}
    assert complete["responseObject"]["metadata"]["uid"]

    log.write_bytes(b"")
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}
    await c.post("/api/v1/namespaces/default/serviceaccounts", json=sa)
    [ev] = events(log)
    assert ev["level"] == "Request" and ev["requestObject"]["metadata"]["name"] == "robot"
    assert "responseObject" not in ev


async def test_none_level_and_failures(audited: tuple[httpx.AsyncClient, Path, str]) -> None:
    c, log, url = audited
    await c.get("/healthz")
    await c.get("/api/v1/namespaces", headers={"Authorization": "Bearer t-quiet"})
    assert events(log) == []
    r = await c.get("/api/v1/namespaces/default/pods/nope")
    assert r.status_code == 404
    [ev] = events(log)
    assert ev["responseStatus"]["code"] == 404 and ev["responseStatus"]["reason"] == "NotFound"
    assert ev["objectRef"]["name"] == "nope"
    log.write_bytes(b"")
    async with httpx.AsyncClient(base_url=url) as anon:
        assert (await anon.get("/api/v1/pods")).status_code == 401
    [ev] = events(log)
    assert ev["user"]["username"] == "system:anonymous" and ev["responseStatus"]["code"] == 401


def test_rule_matching() -> None:
    def level(doc_rules: list[dict[str, Any]], user: str, method: str, path: str) -> str:
        policy = Policy.from_dict({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": doc_rules})
        return policy.decide(UserInfo(user, ("g1",)), parse(method, path, {}))[0]

    sub = [{"level": "Request", "resources": [{"group": "", "resources": ["pods/log"]}]}]
    assert level(sub, "u", "GET", "/api/v1/namespaces/a/pods/p/log") == "Request"
    assert level(sub, "u", "GET", "/api/v1/namespaces/a/pods/p") == "None"
    star = [{"level": "Metadata", "resources": [{"group": "apps", "resources": ["*/scale"]}]}]
    assert level(star, "u", "GET", "/apis/apps/v1/namespaces/a/deployments/d/scale") == "Metadata"
    assert level(star, "u", "GET", "/apis/apps/v1/namespaces/a/deployments/d") == "None"
    groups = [{"level": "Metadata", "userGroups": ["g1"], "resources": [{"group": "", "resourceNames": ["x"]}]}]
    assert level(groups, "u", "GET", "/api/v1/namespaces/a/pods/x") == "Metadata"
    assert level(groups, "u", "GET", "/api/v1/namespaces/a/pods/y") == "None"
    cluster = [{"level": "Metadata", "namespaces": [""]}]
    assert level(cluster, "u", "GET", "/api/v1/nodes") == "Metadata"
    assert level(cluster, "u", "GET", "/api/v1/namespaces/a/pods") == "None"
    with pytest.raises(ValueError, match="Unsupported value"):
        Policy.from_dict({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Everything"}]})
