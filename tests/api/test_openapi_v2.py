"""`/openapi/v2` as gnostic protobuf: the bytes decode with gnostic's field numbers, and the
real kubectl uses them for client-side validation of `kind: List` manifests."""

from __future__ import annotations

import shutil
import struct
import textwrap
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.apiserver import running_apiserver
from tugboat.api.openapi import v2, v2proto

Fields = list[tuple[int, Any]]


def decode(buf: bytes) -> Fields:
    """A minimal protobuf wire decoder: [(field number, int | bytes | float)] in order."""
    out: Fields = []
    i = 0

    def rd_varint() -> int:
        nonlocal i
        shift = n = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(buf):
        key = rd_varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, rd_varint()))
        elif wire == 1:
            out.append((field, struct.unpack("<d", buf[i:i + 8])[0]))
            i += 8
        elif wire == 2:
            n = rd_varint()
            out.append((field, buf[i:i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def one(fields: Fields, num: int) -> Any:
    got = [v for f, v in fields if f == num]
    assert len(got) == 1, (num, got)
    return got[0]


def many(fields: Fields, num: int) -> list[Any]:
    return [v for f, v in fields if f == num]


def named(fields: Fields, num: int) -> dict[str, Fields]:
    """A repeated Named* message (name=1, value=2) as {name: decoded value}."""
    out = {}
    for raw in many(fields, num):
        nf = decode(raw)
        out[one(nf, 1).decode()] = decode(one(nf, 2))
    return out


@pytest.fixture(scope="module")
def defs() -> dict[str, Fields]:
    doc = decode(v2.encoded_protobuf()[0])
    assert one(doc, 1) == b"2.0"  # Document.swagger
    info = decode(one(doc, 2))  # Document.info
    assert one(info, 1) == b"Kubernetes" and one(info, 2) == b"v1.32.0"
    return named(decode(one(doc, 9)), 1)  # Document.definitions → Definitions.additional_properties


def _type(schema: Fields) -> list[str]:
    return [t.decode() for t in many(decode(one(schema, 22)), 1)]  # Schema.type → TypeItem.value


def test_varint_and_scalar_encoding() -> None:
    assert v2proto.varint(1) == b"\x01"
    assert v2proto.varint(300) == b"\xac\x02"
    assert v2proto.varint(-1) == b"\xff" * 9 + b"\x01"
    assert decode(v2proto.double(7, 2.5)) == [(7, 2.5)]
    assert decode(v2proto.string(4, "héllo")) == [(4, "héllo".encode())]


def test_kind_schema_has_gvk_extension_type_and_properties(defs: dict[str, Fields]) -> None:
    cm = defs["io.k8s.api.core.v1.ConfigMap"]
    assert _type(cm) == ["object"]
    ext = named(cm, 31)  # Schema.vendor_extension → NamedAny
    gvk = orjson.loads(one(ext["x-kubernetes-group-version-kind"], 2))  # Any.yaml
    assert gvk == [{"group": "", "kind": "ConfigMap", "version": "v1"}]
    props = named(decode(one(cm, 25)), 1)  # Schema.properties → Properties.additional_properties
    assert {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"} <= set(props)
    data_ap = decode(one(props["data"], 21))  # additionalProperties → AdditionalPropertiesItem
    assert _type(decode(one(data_ap, 1))) == ["string"]
    meta = props["metadata"]
    assert one(meta, 1) == b"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"  # Schema._ref
    assert one(meta, 4).startswith(b"Standard object's metadata")  # Schema.description


def test_required_items_and_int_or_string(defs: dict[str, Fields]) -> None:
    assert many(defs["io.k8s.api.core.v1.Container"], 19) == [b"name"]  # Schema.required
    items = named(decode(one(defs["io.k8s.api.core.v1.ConfigMapList"], 25)), 1)["items"]
    assert _type(items) == ["array"]
    sub = many(decode(one(items, 23)), 1)  # Schema.items → ItemsItem.schema
    assert len(sub) == 1 and one(decode(sub[0]), 1) == b"#/definitions/io.k8s.api.core.v1.ConfigMap"
    ios = defs[v2.INT_OR_STRING]
    assert _type(ios) == ["string"] and one(ios, 2) == b"int-or-string"  # Schema.format


def test_every_reference_resolves(defs: dict[str, Fields]) -> None:
    """kube-openapi rejects the whole document on one dangling `$ref`."""
    refs: set[str] = set()

    def walk(s: Fields) -> None:
        refs.update(r.decode() for r in many(s, 1))
        for raw in many(s, 25):
            for p in named(decode(raw), 1).values():
                walk(p)
        for raw in many(s, 23):
            for item in many(decode(raw), 1):
                walk(decode(item))
        for raw in many(s, 21):
            for sub in many(decode(raw), 1):
                walk(decode(sub))

    for s in defs.values():
        walk(s)
    assert refs and all(r.startswith("#/definitions/") for r in refs)
    assert {r[len("#/definitions/"):] for r in refs} <= set(defs)


async def test_route_negotiates_protobuf_json_and_etag() -> None:
    async with running_apiserver() as (_, client), aiohttp.ClientSession() as http:
        url = client.config.server + "/openapi/v2"
        kubectl_accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        async with http.get(url, headers={"Accept": kubectl_accept}) as r:
            # answered with the dotted form: Go's mime parser rejects the `@` one
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
            body, etag = await r.read(), r.headers["ETag"]
        assert body == v2.encoded_protobuf()[0]
        async with http.get(url, headers={"Accept": v2.PROTOBUF_MEDIA, "If-None-Match": etag}) as r:
            assert r.status == 304
        async with http.get(url, headers={"Accept": "application/json"}) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
            doc = orjson.loads(await r.read())
        assert doc["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in doc["definitions"]


# --- the real kubectl against a real `tug server` -------------------------------------------------

LIST = textwrap.dedent("""\
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: one}
      data: {a: "1"}
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: two}
      data: {b: "2"}
""")


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    from tests.e2e.conftest import start_server, stop_server

    srv = start_server()
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.mark.e2e
def test_kubectl_creates_and_validates_a_list(server: Any) -> None:
    ns = "v2list"
    server.kubectl("create", "namespace", ns)
    out = server.kubectl("-n", ns, "create", "-f", "-", input=LIST).stdout.splitlines()
    assert out == ["configmap/one created", "configmap/two created"]
    got = server.kubectl("-n", ns, "get", "configmap", "one", "two", "-o", "name").stdout.split()
    assert got == ["configmap/one", "configmap/two"]
    applied = server.kubectl("-n", ns, "apply", "-f", "-", input=LIST.replace('"1"', '"9"')).stdout
    assert "configmap/one configured" in applied
    bad = LIST.replace("data: {b: \"2\"}", "data: {b: \"2\"}\n  bogus: 1")
    res = server.kubectl("-n", ns, "create", "-f", "-", input=bad.replace("name: one", "name: three"),
                         check=False)
    assert res.returncode != 0
    assert 'ValidationError(ConfigMap): unknown field "bogus" in io.k8s.api.core.v1.ConfigMap' in res.stderr
    assert server.kubectl("-n", ns, "get", "configmap", "three", check=False).returncode != 0
