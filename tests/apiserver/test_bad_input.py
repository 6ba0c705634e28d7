"""Bad input ends in a 4xx Status, never a 500 (reliability anchors §3/§5)."""

from __future__ import annotations

import httpx

from .conftest import cm

CMS = "/api/v1/namespaces/default/configmaps"


def assert_status(r: httpx.Response, code: int, reason: str) -> None:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason


async def test_body_over_3mib_is_413(client: httpx.AsyncClient) -> None:
    big = cm("big", x="a" * (3 * 1024 * 1024 + 10))
    assert_status(await client.post(CMS, json=big), 413, "RequestEntityTooLarge")


async def test_deep_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(CMS, content=b"[" * 100_000 + b"]" * 100_000,
                          headers={"Content-Type": "application/json"})
    assert_status(r, 400, "BadRequest")


async def test_yaml_billion_laughs_is_400(client: httpx.AsyncClient) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    r = await client.post(CMS, content="\n".join(lines).encode(), headers={"Content-Type": "application/yaml"})
    assert_status(r, 400, "BadRequest")


async def test_yaml_body_accepted(client: httpx.AsyncClient) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  when: 2024-01-01\n"
    r = await client.post(CMS, content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and r.json()["data"]["when"] == "2024-01-01"


async def test_kind_mismatch_is_400(client: httpx.AsyncClient) -> None:
    body = cm("k")
    body["kind"] = "Secret"
    assert_status(await client.post(CMS, json=body), 400, "BadRequest")
    body = cm("k")
    body["apiVersion"] = "apps/v1"
    assert_status(await client.post(CMS, json=body), 400, "BadRequest")


async def test_invalid_name_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(CMS, json=cm("Bad_Name"))
    assert_status(r, 422, "Invalid")
    assert any(c["field"] == "metadata.name" for c in r.json()["details"]["causes"])


async def test_garbage_and_non_object_bodies(client: httpx.AsyncClient) -> None:
    assert_status(await client.post(CMS, content=b"{not json", headers={"Content-Type": "application/json"}),
                  400, "BadRequest")
    assert_status(await client.post(CMS, content=b"[1,2]", headers={"Content-Type": "application/json"}),
                  400, "BadRequest")
    assert_status(await client.post(CMS, content=b"", headers={"Content-Type": "application/json"}),
                  400, "BadRequest")
    assert_status(await client.post(CMS, content=b"x", headers={"Content-Type": "text/csv"}),
                  415, "UnsupportedMediaType")


async def test_unknown_fields_strict_and_warn(client: httpx.AsyncClient) -> None:
    body = cm("u")
    body["spec"] = {"foo": 1}
    r = await client.post(f"{CMS}?fieldValidation=Strict", json=body)
    assert_status(r, 400, "BadRequest")
    assert 'unknown field "spec"' in r.json()["message"]
    r = await client.post(CMS, json=body)
    assert r.status_code == 201
    assert 'unknown field \\"spec\\"' in r.headers.get("Warning", "")


async def test_unknown_resource_and_bad_params(client: httpx.AsyncClient) -> None:
    assert_status(await client.get("/api/v1/namespaces/default/nothings"), 404, "NotFound")
    assert_status(await client.get(f"{CMS}?limit=abc"), 400, "BadRequest")
    assert_status(await client.get(f"{CMS}?continue=garbage"), 400, "BadRequest")
    assert_status(await client.get(f"{CMS}?labelSelector=a%20in%20(("), 400, "BadRequest")
    assert_status(await client.post(f"{CMS}?dryRun=Some", json=cm("d")), 422, "Invalid")


async def test_json_patch_bad_path_is_4xx(client: httpx.AsyncClient) -> None:
    await client.post(CMS, json=cm("jp"))
    r = await client.patch(f"{CMS}/jp", content=b'[{"op":"remove","path":"/nope/x"}]',
                           headers={"Content-Type": "application/json-patch+json"})
    assert 400 <= r.status_code < 500, r.text
