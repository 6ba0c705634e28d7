"""Real TLS with generated certificates (401 without a client cert), discovery, version, CRDs."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import yaml

from tugboat.apiserver.certs import Pki
from tugboat.apiserver.server import ApiServer, serve, tls_context
from tugboat.store.memory import MemoryBackend


async def test_tls_client_certs(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    pki.ensure("127.0.0.1")
    assert oct(pki.ca_key.stat().st_mode & 0o777) == "0o600"
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend)
    await srv.start(compact=False)
    runner = await serve(srv, "127.0.0.1", 0, tls_context(pki.dir))
    port = runner.addresses[0][1]
    pki.write_kubeconfig(tmp_path / "kubeconfig.yaml", f"https://127.0.0.1:{port}")
    kc = yaml.safe_load((tmp_path / "kubeconfig.yaml").read_text())
    assert kc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    try:
        anon = ssl.create_default_context(cafile=str(pki.ca_crt))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=anon) as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/version")).json()["minor"] == "32"
            r = await c.get("/api/v1/namespaces")
            assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
        admin = ssl.create_default_context(cafile=str(pki.ca_crt))
        admin.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
        async with httpx.AsyncClient(base_url=f"https://localhost:{port}", verify=admin) as c:
            r = await c.get("/api/v1/namespaces")
            assert r.status_code == 200
            assert {i["metadata"]["name"] for i in r.json()["items"]} >= {"default", "kube-system"}
    finally:
        await srv.stop()
        await runner.cleanup()
        await backend.close()


async def test_discovery_negotiation(client: httpx.AsyncClient) -> None:
    acc = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
           "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    r = await client.get("/apis", headers={"Accept": acc})
    assert "v=v2" in r.headers["Content-Type"] and r.headers.get("ETag")
    r2 = await client.get("/apis", headers={"Accept": acc, "If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304
    r = await client.get("/apis", headers={"Accept": "application/json"})
    assert r.json()["kind"] == "APIGroupList"
    r = await client.get("/api/v1")
    assert any(x["name"] == "pods" for x in r.json()["resources"])


async def test_openapi_hash_redirect(client: httpx.AsyncClient) -> None:
    idx = (await client.get("/openapi/v3")).json()
    url = idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
    r = await client.get(url)
    assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
    r = await client.get("/openapi/v3/apis/apps/v1?hash=stale", follow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == url


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                                       "statusReplicasPath": ".status.size"}},
                              "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                  "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                  "status": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}


async def test_crd_lifecycle(client: httpx.AsyncClient) -> None:
    r = await client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=CRD)
    assert r.status_code == 201, r.text
    for _ in range(50):
        crd = (await client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")).json()
        if any(c["type"] == "Established" for c in (crd.get("status") or {}).get("conditions", [])):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("CRD never became Established")
    base = "/apis/example.com/v1/namespaces/default/widgets"
    w = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2}}
    r = await client.post(base, json=w)
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["generation"] == 1
    r = await client.patch(f"{base}/w", content=b"{}", headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 415
    r = await client.get(f"{base}/w/scale")
    assert r.json()["spec"]["replicas"] == 2
    r = await client.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert r.status_code == 200
    for _ in range(50):
        if (await client.get(base)).status_code == 404:
            break
        await asyncio.sleep(0.05)
    assert (await client.get(base)).status_code == 404
