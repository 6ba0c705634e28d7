"""Encryption at rest: raw store values carry upstream's prefix, clients still read plaintext,
and a key rotation (new key first, rewrite, drop old key) leaves everything readable."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.support.wait import rt
from tugboat.apiserver.context import Config as ServerConfig
from tugboat.apiserver.encryption import DecryptError, EncryptingBackend, EncryptionConfig
from tugboat.apiserver.server import ApiServer
from tugboat.client import Client, Config
from tugboat.store.memory import MemoryBackend

SECRETS = rt("", "v1", "secrets")
CONFIGMAPS = rt("", "v1", "configmaps")
KEY1 = base64.b64encode(b"1" * 32).decode()
KEY2 = base64.b64encode(b"2" * 32).decode()


def config(*providers: dict[str, Any], resources: tuple[str, ...] = ("secrets",)) -> EncryptionConfig:
    return EncryptionConfig.from_dict({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": list(resources), "providers": list(providers)}]})


def gcm(*keys: tuple[str, str]) -> dict[str, Any]:
    return {"aesgcm": {"keys": [{"name": n, "secret": s} for n, s in keys]}}


@contextlib.asynccontextmanager
async def server(enc: EncryptingBackend) -> AsyncIterator[Client]:
    await enc.start()
    srv = ApiServer(enc, config=ServerConfig(bookmark_interval=1.0), authenticate=False)  # type: ignore[arg-type]
    await srv.start()
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    client = Client(Config(server=f"http://127.0.0.1:{ts.port}"))
    try:
        yield client
    finally:
        await client.close()
        await ts.close()
        await srv.stop()
        await enc.close()


def secret(name: str, value: bytes) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": base64.b64encode(value).decode()}}


async def raw(inner: MemoryBackend, name: str) -> bytes:
    kv = await inner.get(SECRETS.key("default", name))
    assert kv is not None
    return kv.value


async def test_secret_stored_encrypted_and_read_back() -> None:
    inner = MemoryBackend()
    async with server(EncryptingBackend(inner, config(gcm(("key1", KEY1)), {"identity": {}}))) as c:
        await c.create(SECRETS, secret("s1", b"hunter2"))
        await c.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "cm", "namespace": "default"}, "data": {"a": "plain"}})
        value = await raw(inner, "s1")
        assert value.startswith(b"k8s:enc:aesgcm:v1:key1:")
        assert b"hunter2" not in value and base64.b64encode(b"hunter2") not in value
        got = await c.get(SECRETS, "s1", "default")
        assert base64.b64decode(got["data"]["k"]) == b"hunter2"
        listed = await c.list(SECRETS, "default")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["s1"]
        cm = await inner.get(CONFIGMAPS.key("default", "cm"))
        assert cm is not None and cm.value.startswith(b'{"apiVersion"')  # not listed → untouched


async def test_key_rotation() -> None:
    inner = MemoryBackend()
    enc = EncryptingBackend(inner, config(gcm(("key1", KEY1))))
    async with server(enc) as c:
        await c.create(SECRETS, secret("old", b"v1"))
        # step 1+2: key2 added and made the writer; key1 still reads
        enc.config = config(gcm(("key2", KEY2), ("key1", KEY1)))
        await c.create(SECRETS, secret("new", b"v2"))
        assert (await raw(inner, "new")).startswith(b"k8s:enc:aesgcm:v1:key2:")
        assert (await raw(inner, "old")).startswith(b"k8s:enc:aesgcm:v1:key1:")
        # step 3: rewrite everything unchanged (kubectl replace) → now under key2
        for item in (await c.list(SECRETS, "default"))["items"]:
            await c.update(SECRETS, item, "default")
        assert (await raw(inner, "old")).startswith(b"k8s:enc:aesgcm:v1:key2:")
        # step 4: key1 dropped; everything still reads
        enc.config = config(gcm(("key2", KEY2)))
        got = await c.get(SECRETS, "old", "default")
        assert base64.b64decode(got["data"]["k"]) == b"v1"


async def test_wrong_key_cannot_read() -> None:
    inner = MemoryBackend()
    await inner.start()
    key = SECRETS.key("default", "x")
    await EncryptingBackend(inner, config(gcm(("key1", KEY1)))).create(key, b'{"a":1}')
    other = EncryptingBackend(inner, config(gcm(("key1", KEY2))))
    with pytest.raises(DecryptError):
        await other.get(key)
    with pytest.raises(DecryptError, match="no matching prefix"):
        await EncryptingBackend(inner, config(gcm(("other", KEY1)))).get(key)
    await inner.close()


async def test_aescbc_and_identity_first_reads_old_values() -> None:
    inner = MemoryBackend()
    await inner.start()
    key = SECRETS.key("default", "x")
    cbc = {"aescbc": {"keys": [{"name": "k", "secret": KEY1}]}}
    await EncryptingBackend(inner, config(cbc)).create(key, b'{"secret":"yes"}')
    stored = await inner.get(key)
    assert stored is not None and stored.value.startswith(b"k8s:enc:aescbc:v1:k:")
    # decryption switched off: identity writes, aescbc still reads the old value
    off = EncryptingBackend(inner, config({"identity": {}}, cbc))
    kv = await off.get(key)
    assert kv is not None and kv.value == b'{"secret":"yes"}' and getattr(kv, "stale", False)
    await inner.close()


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32"):
        config(gcm(("k", base64.b64encode(b"short").decode())))
    with pytest.raises(ValueError, match="unsupported"):
        config({"kms": {"name": "x"}})
    with pytest.raises(ValueError, match="EncryptionConfiguration"):
        EncryptionConfig.from_dict({"kind": "Other"})


def test_wildcards() -> None:
    cfg = config({"identity": {}}, resources=("*.apps", "configmaps"))
    assert cfg.for_key("/registry/apps/deployments/ns/x") is not None
    assert cfg.for_key("/registry/core/configmaps/ns/x") is not None
    assert cfg.for_key("/registry/core/secrets/ns/x") is None
    assert config({"identity": {}}, resources=("*.*",)).for_key("/registry/core/pods/ns/p") is not None
