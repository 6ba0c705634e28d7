"""Create/read/update/delete through the generic registry, with upstream status codes."""

from __future__ import annotations

import httpx

from .conftest import cm, deploy

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


async def test_create_get_list_update_delete(client: httpx.AsyncClient) -> None:
    r = await client.post(CMS, json=cm("a", x="1"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    rv = created["metadata"]["resourceVersion"]
    r = await client.get(f"{CMS}/a")
    assert r.status_code == 200 and r.json()["data"] == {"x": "1"} and r.json()["metadata"]["resourceVersion"] == rv
    r = await client.get(CMS)
    body = r.json()
    assert body["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in body["items"]] == ["a"]
    upd = r.json()["items"][0]
    upd["data"]["x"] = "2"
    r = await client.put(f"{CMS}/a", json=upd)
    assert r.status_code == 200 and r.json()["data"]["x"] == "2"
    assert int(r.json()["metadata"]["resourceVersion"]) > int(rv)
    r = await client.delete(f"{CMS}/a")
    assert r.status_code == 200 and r.json()["status"] == "Success"
    r = await client.get(f"{CMS}/a")
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound" and r.json()["message"] == 'configmaps "a" not found'


async def test_duplicate_create_is_409_already_exists(client: httpx.AsyncClient) -> None:
    assert (await client.post(CMS, json=cm("dup"))).status_code == 201
    r = await client.post(CMS, json=cm("dup"))
    assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"


async def test_stale_resource_version_is_409(client: httpx.AsyncClient) -> None:
    old = (await client.post(CMS, json=cm("c", v="1"))).json()
    first = dict(old, data={"v": "2"})
    assert (await client.put(f"{CMS}/c", json=first)).status_code == 200
    second = dict(old, data={"v": "3"})
    r = await client.put(f"{CMS}/c", json=second)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert "the object has been modified" in r.json()["message"]
    assert (await client.get(f"{CMS}/c")).json()["data"] == {"v": "2"}


async def test_generate_name(client: httpx.AsyncClient) -> None:
    body = cm("")
    body["metadata"] = {"generateName": "gen-"}
    r = await client.post(CMS, json=body)
    assert r.status_code == 201
    name = r.json()["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == 9


async def test_generation_bumps_only_on_spec_change_and_status_only_via_subresource(client: httpx.AsyncClient) -> None:
    d = (await client.post(DEPLOYS, json=deploy("web"))).json()
    assert d["metadata"]["generation"] == 1
    d["metadata"]["labels"] = {"a": "b"}
    d = (await client.put(f"{DEPLOYS}/web", json=d)).json()
    assert d["metadata"]["generation"] == 1
    d["spec"]["replicas"] = 3
    d["status"] = {"replicas": 7}
    d = (await client.put(f"{DEPLOYS}/web", json=d)).json()
    assert d["metadata"]["generation"] == 2 and "replicas" not in (d.get("status") or {})
    d["status"] = {"replicas": 3, "observedGeneration": 2}
    d["spec"]["replicas"] = 9
    r = await client.put(f"{DEPLOYS}/web/status", json=d)
    assert r.status_code == 200
    d = r.json()
    assert d["status"]["replicas"] == 3 and d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2


async def test_scale_subresource(client: httpx.AsyncClient) -> None:
    await client.post(DEPLOYS, json=deploy("s", 2))
    r = await client.get(f"{DEPLOYS}/s/scale")
    sc = r.json()
    assert sc["kind"] == "Scale" and sc["spec"]["replicas"] == 2 and sc["status"]["selector"] == "app=s"
    r = await client.patch(f"{DEPLOYS}/s/scale", content=b'{"spec":{"replicas":5}}',
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 5
    assert (await client.get(f"{DEPLOYS}/s")).json()["spec"]["replicas"] == 5


async def test_patch_types(client: httpx.AsyncClient) -> None:
    await client.post(CMS, json=cm("p", a="1"))
    r = await client.patch(f"{CMS}/p", content=b'{"data":{"b":"2","a":null}}',
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.json()["data"] == {"b": "2"}
    r = await client.patch(f"{CMS}/p", content=b'[{"op":"add","path":"/data/c","value":"3"}]',
                           headers={"Content-Type": "application/json-patch+json"})
    assert r.json()["data"] == {"b": "2", "c": "3"}
    r = await client.patch(f"{CMS}/p", content=b'{}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = await client.patch(f"{CMS}/missing", content=b'{}', headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 404


async def test_server_side_apply_upserts(client: httpx.AsyncClient) -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"k":"v"}}'
    r = await client.patch(f"{CMS}/ssa?fieldManager=me", content=body,
                           headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 201 and r.json()["data"] == {"k": "v"}
    r = await client.patch(f"{CMS}/ssa", content=body, headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 422  # fieldManager is required for apply


async def test_dry_run_stores_nothing(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{CMS}?dryRun=All", json=cm("dry"))
    assert r.status_code == 201
    assert (await client.get(f"{CMS}/dry")).status_code == 404


async def test_create_in_missing_namespace_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/nope/configmaps", json=cm("x", "nope"))
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nope" not found'


async def test_pod_binding(client: httpx.AsyncClient) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await client.post("/api/v1/namespaces/default/pods", json=pod)).status_code == 201
    bind = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
    r = await client.post("/api/v1/namespaces/default/pods/p/binding", json=bind)
    assert r.status_code == 201
    p = (await client.get("/api/v1/namespaces/default/pods/p")).json()
    assert p["spec"]["nodeName"] == "n1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in p["status"]["conditions"])
    r = await client.post("/api/v1/namespaces/default/pods/p/binding", json=bind)
    assert r.status_code == 409


async def test_service_allocation(client: httpx.AsyncClient) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s1"},
           "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}
    r = await client.post("/api/v1/namespaces/default/services", json=svc)
    assert r.status_code == 201, r.text
    ip = r.json()["spec"]["clusterIP"]
    assert ip.startswith("10.") and ip != "10.96.0.1"
    svc["metadata"]["name"] = "s2"
    r = await client.post("/api/v1/namespaces/default/services", json=svc)
    assert r.status_code == 422 and "provided port is already allocated" in r.text
    assert (await client.delete("/api/v1/namespaces/default/services/s1")).status_code == 200
    r = await client.post("/api/v1/namespaces/default/services", json=svc)
    assert r.status_code == 201
