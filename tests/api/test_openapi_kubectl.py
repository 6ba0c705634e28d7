"""The real kubectl 1.32 against our discovery and OpenAPI documents.

A throwaway aiohttp server on 127.0.0.1 serves /version, aggregated + legacy discovery, the
OpenAPI v3 index and documents, and a tiny in-memory object store (GET/POST/PATCH) so that
`kubectl explain`, `api-resources` and `apply` run end to end. kubectl is pointed at it with
`--server` and a temp `--cache-dir`/HOME so nothing leaks into the user's ~/.kube.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from tugboat.api import discovery, openapi
from tugboat.api.scheme import ResourceType, Scheme, Subresource, default_scheme

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

CRONTAB_SCHEMA = {
    "type": "object",
    "description": "CronTab runs a thing on a schedule.",
    "properties": {
        "spec": {"type": "object", "description": "The crontab spec.",
                 "properties": {"cronSpec": {"type": "string", "description": "Cron schedule, in cron syntax."},
                                "replicas": {"type": "integer"}}},
    },
}


def _scheme() -> Scheme:
    s = default_scheme()
    s.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", "crontab", True, ("ct",),
                       subresources=(Subresource("status", "CronTab", "stable.example.com", "v1"),), custom=True))
    return s


def _crd_for(group: str, version: str) -> openapi.CrdSchemas | None:
    if (group, version) == ("stable.example.com", "v1"):
        return {("CronTab", "crontabs"): CRONTAB_SCHEMA}
    return None


class Stub:
    def __init__(self) -> None:
        self.scheme = _scheme()
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path_qs, content-type)
        self.bodies: list[bytes] = []
        self.legacy_only = False  # answer discovery like a server without aggregated discovery
        self.minor = "32"  # /version.minor picks the kubectl version the dispatcher runs
        self.discovery_types: list[str] = []

    def json(self, doc: Any, status: int = 200, ctype: str = "application/json") -> web.Response:
        return web.Response(body=orjson.dumps(doc), status=status, headers={"Content-Type": ctype})

    async def handle(self, req: web.Request) -> web.StreamResponse:
        self.requests.append((req.method, req.path_qs, req.headers.get("Content-Type", "")))
        path = req.path.rstrip("/")
        if path == "/version":
            return self.json({"major": "1", "minor": self.minor, "gitVersion": f"v1.{self.minor}.0", "platform": "linux/amd64"})
        if path in ("/api", "/apis"):
            v = None if self.legacy_only else discovery.negotiate(req.headers.get("Accept"))
            if v is None:
                doc = discovery.api_versions(req.host) if path == "/api" else discovery.api_group_list(self.scheme)
            else:
                doc = discovery.aggregated(self.scheme, core=path == "/api", version=v)
            self.discovery_types.append(discovery.content_type(v))
            return self.json(doc, ctype=discovery.content_type(v))
        if path == "/openapi/v3":
            return self.json(openapi.index(self.scheme, _crd_for))
        if path.startswith("/openapi/v3/"):
            got = openapi.encoded_path(self.scheme, path[len("/openapi/v3/"):], _crd_for)
            if got is None:
                return self.json({"kind": "Status", "code": 404}, 404)
            return web.Response(body=got[0], headers={"Content-Type": "application/json", "ETag": f'"{got[1]}"'})
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            return self.json(discovery.api_resource_list(self.scheme, "", parts[1]))
        if parts[0] == "apis" and len(parts) == 3:
            return self.json(discovery.api_resource_list(self.scheme, parts[1], parts[2]))
        return await self.objects_handler(req, path)

    async def objects_handler(self, req: web.Request, path: str) -> web.Response:
        # /api/v1/namespaces/ns/pods[/name] or /apis/g/v/namespaces/ns/res[/name]
        if req.method == "GET":
            if path in self.objects:
                return self.json(self.objects[path])
            return self.json({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                              "message": "not found", "code": 404}, 404)
        raw = await req.read()
        self.bodies.append(raw)
        body = orjson.loads(raw)
        if req.method == "PATCH" and req.content_type == "application/apply-patch+yaml" and path not in self.objects:
            body.setdefault("metadata", {})["resourceVersion"] = "1"
            self.objects[path] = body
            return self.json(body, 201)
        if req.method == "POST":
            body.setdefault("metadata", {})["resourceVersion"] = "1"
            self.objects[path + "/" + body["metadata"]["name"]] = body
            return self.json(body, 201)
        if req.method == "PATCH" and path in self.objects:
            cur = self.objects[path]
            _merge(cur, body)
            return self.json(cur)
        return self.json({"kind": "Status", "code": 405}, 405)


def _merge(dst: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        elif v is None:
            dst.pop(k, None)
        else:
            dst[k] = v


@pytest.fixture
async def server() -> AsyncIterator[tuple[Stub, str, str]]:
    stub = Stub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tmp = tempfile.mkdtemp(prefix="tug-kubectl-")
    try:
        yield stub, f"http://127.0.0.1:{port}", tmp
    finally:
        await runner.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


async def kubectl(srv: tuple[Stub, str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    _, url, tmp = srv
    env = {"HOME": tmp, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": os.path.join(tmp, "none")}
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", "--server", url, "--cache-dir", os.path.join(tmp, "cache"), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


async def test_explain_pod_containers(server: tuple[Stub, str, str]) -> None:
    rc, out, err = await kubectl(server, "explain", "pods.spec.containers")
    assert rc == 0, err
    assert "KIND:       Pod" in out
    assert "FIELD: containers <[]Container>" in out
    assert "List of containers belonging to the pod." in out
    assert "imagePullPolicy\t<string>" in out


DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: IMAGE
"""


async def test_explain_int_or_string_and_crd(server: tuple[Stub, str, str]) -> None:
    rc, out, err = await kubectl(server, "explain", "deployment.spec.strategy.rollingUpdate")
    assert rc == 0, err
    assert "maxSurge\t<IntOrString>" in out
    rc, out, err = await kubectl(server, "explain", "crontabs.spec")
    assert rc == 0, err
    assert "KIND:       CronTab" in out and "Cron schedule, in cron syntax." in out


@pytest.mark.parametrize(("legacy", "minor"), [(False, "32"), (True, "32"), (False, "29")],
                         ids=["aggregated-v2", "legacy", "kubectl-1.29-v2beta1"])
async def test_api_resources(server: tuple[Stub, str, str], legacy: bool, minor: str) -> None:
    server[0].legacy_only = legacy
    server[0].minor = minor
    rc, out, err = await kubectl(server, "api-resources", "-o", "wide")
    assert rc == 0, err
    rows = {tuple(line.split()[:3]) for line in out.splitlines()}
    assert ("deployments", "deploy", "apps/v1") in rows
    assert ("pods", "po", "v1") in rows
    assert ("crontabs", "ct", "stable.example.com/v1") in rows
    pods = next(line for line in out.splitlines() if line.startswith("pods "))
    assert "create,delete,deletecollection,get,list,patch,update,watch" in pods and "all" in pods
    discovery_gets = [p for m, p, _ in server[0].requests if p.startswith(("/api/v1", "/apis/apps/v1"))]
    # aggregated discovery answers everything from /api + /apis; legacy needs per-GV lists
    assert bool(discovery_gets) == legacy
    want = "application/json" if legacy else discovery.content_type("v2" if minor == "32" else "v2beta1")
    assert set(server[0].discovery_types) == {want}


async def test_client_side_apply_uses_our_schemas_for_strategic_merge(server: tuple[Stub, str, str]) -> None:
    stub = server[0]
    rc, out, err = await kubectl(server, "apply", "-f", "-", stdin=DEPLOY.replace("IMAGE", "nginx:1.25").encode())
    assert rc == 0 and "deployment.apps/web created" in out, err
    post = next(r for r in stub.requests if r[0] == "POST")
    assert "fieldValidation=Strict" in post[1]  # kubectl saw fieldValidation on our PATCH operation
    rc, out, err = await kubectl(server, "apply", "-f", "-", stdin=DEPLOY.replace("IMAGE", "nginx:1.26").encode())
    assert rc == 0 and "deployment.apps/web configured" in out, err
    assert "warning" not in err.lower()
    patch = next(r for r in stub.requests if r[0] == "PATCH")
    assert patch[2] == "application/strategic-merge-patch+json"
    body = orjson.loads(stub.bodies[-1])
    # the strategic patch was computed from x-kubernetes-patch-merge-key in our components
    assert body["spec"]["template"]["spec"]["$setElementOrder/containers"] == [{"name": "c"}]
    assert not any(p.startswith("/openapi/v2") for _, p, _ in stub.requests)


async def test_server_side_apply_and_crd_merge_patch(server: tuple[Stub, str, str]) -> None:
    stub = server[0]
    rc, out, err = await kubectl(server, "apply", "--server-side", "-f", "-",
                                 stdin=DEPLOY.replace("IMAGE", "nginx:1.25").encode())
    assert rc == 0 and "serverside-applied" in out, err
    patch = next(r for r in stub.requests if r[0] == "PATCH")
    assert patch[2] == "application/apply-patch+yaml"
    assert "fieldValidation=Strict" in patch[1] and "fieldManager=kubectl" in patch[1]

    ct = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: t, namespace: default}\nspec: {replicas: R}\n"
    for n in ("1", "2"):
        rc, out, err = await kubectl(server, "apply", "-f", "-", stdin=ct.replace("R", n).encode())
        assert rc == 0, err
    crd_patch = [r for r in stub.requests if r[0] == "PATCH" and "crontabs" in r[1]]
    assert crd_patch and crd_patch[0][2] == "application/merge-patch+json"
    assert "fieldValidation=Strict" in crd_patch[0][1]
