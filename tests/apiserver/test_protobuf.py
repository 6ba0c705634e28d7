"""kubectl 1.32's typed clients send protobuf bodies; the server decodes them."""

from __future__ import annotations

import httpx

from tugboat.apiserver.protobuf import MAGIC, decode_envelope


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def configmap_pb(name: str) -> bytes:
    meta = _ld(1, name.encode()) + _ld(2, b"")  # name, empty generateName (Go always writes it)
    entry = _ld(1, b"k") + _ld(2, b"v")
    obj = _ld(1, meta) + _ld(2, entry)  # metadata, data map
    type_meta = _ld(1, b"v1") + _ld(2, b"ConfigMap")
    return MAGIC + _ld(1, type_meta) + _ld(2, obj) + _ld(3, b"") + _ld(4, b"")


def test_decode_envelope_drops_go_zero_values() -> None:
    obj = decode_envelope(configmap_pb("x"))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}


async def test_protobuf_create(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/default/configmaps", content=configmap_pb("pb"),
                          headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"k": "v"}


async def test_garbage_protobuf_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/namespaces/default/configmaps", content=MAGIC + b"\xff\xff\xff",
                          headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert r.status_code == 400
