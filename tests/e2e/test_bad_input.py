"""Bad input gets a Kubernetes Status with the right code, the server stays up, nothing is
half-written (issue 2's bad-input list; reliability anchors §5 items 16-19)."""

from __future__ import annotations

import time

import orjson
import pytest

from .conftest import TugServer, http_client

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(tug: TugServer):  # type: ignore[no-untyped-def]
    with http_client(tug) as c:
        yield c


def status_of(resp) -> dict:  # type: ignore[no-untyped-def]
    body = resp.json()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == resp.status_code
    return body


def cm_names(http, ns: str) -> list[str]:  # type: ignore[no-untyped-def]
    r = http.get(f"/api/v1/namespaces/{ns}/configmaps")
    assert r.status_code == 200
    # every namespace has the root CA ConfigMap (the publisher controller's, as upstream)
    return [i["metadata"]["name"] for i in r.json()["items"] if i["metadata"]["name"] != "kube-root-ca.crt"]


def assert_alive(http) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/readyz").status_code == 200


@pytest.mark.parametrize("name", ["x" * 254, "UpperCase", "under_score", "-leading", "trailing-", "ünï"])
def test_invalid_names_are_422(http, ns: str, name: str) -> None:  # type: ignore[no-untyped-def]
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps",
                  json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    assert r.status_code == 422
    st = status_of(r)
    assert st["reason"] == "Invalid"
    assert any(c["field"] == "metadata.name" for c in st["details"]["causes"])
    assert cm_names(http, ns) == []


@pytest.mark.parametrize("labels", [{"k": "v" * 64}, {"Bad Key": "v"}, {"k": "white space"}])
def test_invalid_labels_are_422(http, ns: str, labels: dict) -> None:  # type: ignore[no-untyped-def]
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps",
                  json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "l", "labels": labels}})
    assert r.status_code == 422 and status_of(r)["reason"] == "Invalid"


def test_namespace_name_over_63_is_422(http) -> None:  # type: ignore[no-untyped-def]
    r = http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "n" * 64}})
    assert r.status_code == 422


def test_missing_required_field_and_wrong_type(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    r = http.post(f"/api/v1/namespaces/{ns}/pods",
                  json={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}})
    assert r.status_code == 422
    r = http.post(f"/api/v1/namespaces/{ns}/pods",
                  json={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "no"}})
    assert r.status_code in (400, 422)
    status_of(r)


def test_unknown_field_strict_is_400(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}, "dataa": {"a": "b"}}
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict", json=body)
    assert r.status_code == 400
    assert 'unknown field "dataa"' in status_of(r)["message"]
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Warn", json=body)
    assert r.status_code == 201
    assert 'unknown field \\"dataa\\"' in r.headers.get("warning", "") or 'unknown field "dataa"' in r.headers.get("warning", "")


def test_body_over_3mib_is_413(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    big = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", content=big,
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert status_of(r)["reason"] == "RequestEntityTooLarge"
    assert cm_names(http, ns) == []
    assert_alive(http)


def test_deeply_nested_json_is_400(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    deep = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", content=deep,
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    status_of(r)
    assert_alive(http)


def test_yaml_alias_bomb_is_rejected_fast(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for i in range(1, 10):
        name = chr(ord("a") + i)
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    t0 = time.monotonic()
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", content="\n".join(lines).encode(),
                  headers={"Content-Type": "application/yaml"})
    assert time.monotonic() - t0 < 5
    assert r.status_code in (400, 422)
    status_of(r)
    assert cm_names(http, ns) == []
    assert_alive(http)


def test_json_patch_with_100k_ops_is_refused(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    http.post(f"/api/v1/namespaces/{ns}/configmaps",
              json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "jp"}, "data": {"a": "1"}})
    ops = [{"op": "add", "path": f"/data/k{i}", "value": "v"} for i in range(100_000)]
    r = http.patch(f"/api/v1/namespaces/{ns}/configmaps/jp", content=orjson.dumps(ops),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code in (413, 422)
    status_of(r)
    got = http.get(f"/api/v1/namespaces/{ns}/configmaps/jp").json()
    assert got["data"] == {"a": "1"}


def test_stale_resource_version_is_409(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps",
                  json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rv"}, "data": {"a": "1"}})
    obj = r.json()
    obj["data"]["a"] = "2"
    assert http.put(f"/api/v1/namespaces/{ns}/configmaps/rv", json=obj).status_code == 200
    obj["data"]["a"] = "3"
    r = http.put(f"/api/v1/namespaces/{ns}/configmaps/rv", json=obj)
    assert r.status_code == 409 and status_of(r)["reason"] == "Conflict"
    assert http.get(f"/api/v1/namespaces/{ns}/configmaps/rv").json()["data"]["a"] == "2"


def test_create_in_missing_namespace_is_404(http) -> None:  # type: ignore[no-untyped-def]
    r = http.post("/api/v1/namespaces/no-such-ns/configmaps",
                  json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert r.status_code == 404
    assert status_of(r)["message"] == 'namespaces "no-such-ns" not found'


def test_no_credentials_is_401_but_health_is_open(tug: TugServer) -> None:
    import httpx

    with httpx.Client(base_url=tug.url, verify=False) as anon:
        r = anon.get("/api/v1/namespaces")
        assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
        assert anon.get("/readyz").status_code == 200
        assert anon.get("/version").json()["minor"] == "32"


def test_duplicate_field_strict_is_400_and_warn_warns(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    raw = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dupf"},"data":{"a":"1"},"data":{"b":"2"}}'
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict", content=raw,
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert 'duplicate field "data"' in status_of(r)["message"]
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and "duplicate field" in r.headers.get("warning", "")


def test_strict_patch_with_unknown_field_is_422(http, ns: str) -> None:  # type: ignore[no-untyped-def]
    http.post(f"/api/v1/namespaces/{ns}/configmaps",
              json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sp"}})
    r = http.patch(f"/api/v1/namespaces/{ns}/configmaps/sp?fieldValidation=Strict", content=b'{"dataa":{"x":"y"}}',
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422
    assert 'unknown field "dataa"' in status_of(r)["message"]
    assert "dataa" not in http.get(f"/api/v1/namespaces/{ns}/configmaps/sp").json()
