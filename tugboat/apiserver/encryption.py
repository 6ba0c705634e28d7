"""Encryption at rest: upstream's EncryptionConfiguration (apiserver.config.k8s.io/v1).

Why a Backend wrapper: every reader of the store (registry, watch cache, LIST, watch) sees
plaintext bytes and every write is encrypted, without touching those paths — the same place
upstream puts its value transformers (between the registry and etcd). Stored values get
upstream's prefix, `k8s:enc:<provider>:v1:<keyname>:`, so a raw row is recognisable and the
reading key is found by prefix. The first provider of a resource writes; all of them read, so
a key rotation is: add the new key second, restart, move it first, restart, rewrite all
objects (`kubectl get secrets -A -o json | kubectl replace -f -`), drop the old key.

Formats (byte-compatible with upstream): aesgcm = prefix + 12-byte nonce + ciphertext+tag with
the store key as additional data; aescbc = prefix + 16-byte IV + PKCS#7-padded ciphertext;
identity = the plain bytes. secretbox needs PyNaCl and is refused when it is missing.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tugboat.store.backend import Backend, ConflictError, Event, KeyValue, ListResult, StoreError, Watch

ENC_PREFIX = b"k8s:enc:"


class DecryptError(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class StaleKeyValue(KeyValue):
    """A value read with a key that no longer writes: the registry rewrites it even when the
    object did not change (upstream's `stale` flag), which is what completes a rotation."""

    stale: bool = True


class Transformer(Protocol):
    prefix: bytes

    def encrypt(self, data: bytes, key: str) -> bytes: ...

    def decrypt(self, data: bytes, key: str) -> bytes: ...


class Identity:
    prefix = b""

    def encrypt(self, data: bytes, key: str) -> bytes:
        return data

    def decrypt(self, data: bytes, key: str) -> bytes:
        if data.startswith(ENC_PREFIX):
            raise DecryptError("identity transformer tried to read encrypted data")
        return data


class AesGcm:
    def __init__(self, name: str, secret: bytes):
        self.prefix = f"k8s:enc:aesgcm:v1:{name}:".encode()
        self.aead = AESGCM(secret)

    def encrypt(self, data: bytes, key: str) -> bytes:
        nonce = os.urandom(12)
        return self.prefix + nonce + self.aead.encrypt(nonce, data, key.encode())

    def decrypt(self, data: bytes, key: str) -> bytes:
        body = data[len(self.prefix):]
        try:
            return self.aead.decrypt(body[:12], body[12:], key.encode())
        except Exception as e:
            raise DecryptError(f"aesgcm: the value of {key} cannot be decrypted: {type(e).__name__}") from None


class AesCbc:
    def __init__(self, name: str, secret: bytes):
        self.prefix = f"k8s:enc:aescbc:v1:{name}:".encode()
        self.secret = secret

    def encrypt(self, data: bytes, key: str) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        enc = Cipher(algorithms.AES(self.secret), modes.CBC(iv)).encryptor()
        return self.prefix + iv + enc.update(padder.update(data) + padder.finalize()) + enc.finalize()

    def decrypt(self, data: bytes, key: str) -> bytes:
        body = data[len(self.prefix):]
        if len(body) < 32 or len(body) % 16:
            raise DecryptError(f"aescbc: the value of {key} is not a whole number of blocks")
        dec = Cipher(algorithms.AES(self.secret), modes.CBC(body[:16])).decryptor()
        try:
            unpadder = padding.PKCS7(128).unpadder()
            return unpadder.update(dec.update(body[16:]) + dec.finalize()) + unpadder.finalize()
        except ValueError:
            raise DecryptError(f"aescbc: the value of {key} has invalid padding") from None


class SecretBox:
    def __init__(self, name: str, secret: bytes):
        try:
            import nacl.secret  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError("the secretbox provider needs PyNaCl, which is not installed") from None
        if len(secret) != 32:
            raise ValueError("secretbox keys must be 32 bytes")
        self.prefix = f"k8s:enc:secretbox:v1:{name}:".encode()
        self.box = nacl.secret.SecretBox(secret)

    def encrypt(self, data: bytes, key: str) -> bytes:
        return self.prefix + bytes(self.box.encrypt(data))

    def decrypt(self, data: bytes, key: str) -> bytes:
        try:
            return bytes(self.box.decrypt(data[len(self.prefix):]))
        except Exception:
            raise DecryptError(f"secretbox: the value of {key} cannot be decrypted") from None


_KINDS: dict[str, Any] = {"aesgcm": AesGcm, "aescbc": AesCbc, "secretbox": SecretBox}


class ResourceTransformers:
    """The providers of one `resources:` entry: the first writes, any whose prefix matches reads."""

    def __init__(self, providers: Sequence[Transformer]):
        if not providers:
            raise ValueError("a resources entry needs at least one provider")
        self.providers = list(providers)
        self.writer = self.providers[0]

    def encrypt(self, data: bytes, key: str) -> bytes:
        return self.writer.encrypt(data, key)

    def decrypt(self, data: bytes, key: str) -> tuple[bytes, bool]:
        """(plaintext, stale): stale when a provider other than the writer could read it."""
        for p in self.providers:
            if p.prefix and data.startswith(p.prefix):
                return p.decrypt(data, key), p is not self.writer
        for p in self.providers:
            if not p.prefix:
                return p.decrypt(data, key), p is not self.writer
        raise DecryptError(f"no matching prefix found for the value of {key}")


def _provider(entry: dict[str, Any]) -> list[Transformer]:
    if len(entry) != 1:
        raise ValueError(f"a provider must have exactly one type, got {sorted(entry)}")
    kind, spec = next(iter(entry.items()))
    if kind == "identity":
        return [Identity()]
    if kind not in _KINDS:
        raise ValueError(f"unsupported encryption provider {kind!r} (aesgcm, aescbc, secretbox, identity)")
    keys = (spec or {}).get("keys") or []
    if not keys:
        raise ValueError(f"{kind}: at least one key is required")
    out: list[Transformer] = []
    for k in keys:
        name, secret = k.get("name"), k.get("secret")
        if not name or not secret:
            raise ValueError(f"{kind}: every key needs a name and a secret")
        raw = base64.b64decode(secret, validate=True)
        if kind != "secretbox" and len(raw) not in (16, 24, 32):
            raise ValueError(f"{kind}: key {name!r} must be 16, 24 or 32 bytes, got {len(raw)}")
        out.append(_KINDS[kind](name, raw))
    return out


def _split_resource(res: str) -> tuple[str, str]:
    """`secrets` → ("", "secrets"); `deployments.apps` → ("apps", "deployments"); `*.*`."""
    name, _, group = res.partition(".")
    return group, name


class EncryptionConfig:
    def __init__(self, rules: list[tuple[list[tuple[str, str]], ResourceTransformers]]):
        self.rules = rules
        self._cache: dict[str, ResourceTransformers | None] = {}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EncryptionConfig:
        if doc.get("kind") != "EncryptionConfiguration" or \
                doc.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "v1"):
            raise ValueError("expected kind EncryptionConfiguration, apiVersion apiserver.config.k8s.io/v1")
        rules = []
        for entry in doc.get("resources") or []:
            providers: list[Transformer] = []
            for p in entry.get("providers") or []:
                providers.extend(_provider(p))
            resources = [_split_resource(r) for r in entry.get("resources") or []]
            if not resources:
                raise ValueError("each resources entry needs a non-empty resources list")
            rules.append((resources, ResourceTransformers(providers)))
        return cls(rules)

    @classmethod
    def load(cls, path: str | Path) -> EncryptionConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})

    def for_key(self, key: str) -> ResourceTransformers | None:
        """The transformers for a store key `/registry/<group|core>/<resource>/...`."""
        parts = key.split("/", 4)
        if len(parts) < 4 or parts[1] != "registry":
            return None
        head = f"{parts[2]}/{parts[3]}"
        if head in self._cache:
            return self._cache[head]
        group = "" if parts[2] == "core" else parts[2]
        found = None
        for resources, tr in self.rules:
            if any(_matches(g, r, group, parts[3]) for g, r in resources):
                found = tr
                break
        self._cache[head] = found
        return found


def _matches(g: str, r: str, group: str, resource: str) -> bool:
    if r == "*":
        return g == "*" or g == group
    return r == resource and g == group


class EncryptingBackend:
    """A Backend that encrypts values on the way in and decrypts them on the way out."""

    def __init__(self, inner: Backend, config: EncryptionConfig):
        self.inner = inner
        self.config = config

    def __getattr__(self, name: str) -> Any:  # backend-specific extras (paths, stats...)
        return getattr(self.inner, name)

    def _enc(self, key: str, value: bytes) -> bytes:
        tr = self.config.for_key(key)
        return tr.encrypt(value, key) if tr is not None else value

    def _dec(self, kv: KeyValue | None) -> KeyValue | None:
        if kv is None:
            return None
        tr = self.config.for_key(kv.key)
        if tr is None:
            return kv
        plain, stale = tr.decrypt(kv.value, kv.key)
        if stale:
            return StaleKeyValue(kv.key, plain, kv.create_revision, kv.mod_revision)
        return KeyValue(kv.key, plain, kv.create_revision, kv.mod_revision)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compacted_revision(self) -> int:
        return await self.inner.compacted_revision()

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return self._dec(await self.inner.get(key, revision))

    async def list(self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        res = await self.inner.list(prefix, start_after=start_after, limit=limit, revision=revision)
        if not self.config.rules or not res.items:
            return res
        items = [self._dec(i) or i for i in res.items]
        return ListResult(res.revision, items, res.more, res.remaining)

    async def count(self, prefix: str) -> int:
        return await self.inner.count(prefix)

    async def create(self, key: str, value: bytes) -> int:
        return await self.inner.create(key, self._enc(key, value))

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        try:
            return await self.inner.update(key, self._enc(key, value), expected_revision)
        except ConflictError as e:
            raise ConflictError(e.key, self._dec(e.current)) from None

    async def delete(self, key: str, expected_revision: int = 0) -> tuple[int, KeyValue]:
        try:
            rev, kv = await self.inner.delete(key, expected_revision)
        except ConflictError as e:
            raise ConflictError(e.key, self._dec(e.current)) from None
        out = self._dec(kv)
        assert out is not None
        return rev, out

    def watch(self, prefix: str, after_revision: int) -> Watch:
        return _DecryptingWatch(self, self.inner.watch(prefix, after_revision))

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)


class _DecryptingWatch:
    def __init__(self, backend: EncryptingBackend, inner: Watch):
        self.backend = backend
        self.inner = inner

    async def _iter(self) -> AsyncIterator[list[Event]]:
        dec = self.backend._dec
        async for batch in self.inner:
            out = []
            for ev in batch:
                kv = dec(ev.kv)
                assert kv is not None
                out.append(Event(ev.type, kv, dec(ev.prev)))
            yield out

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._iter()

    async def close(self) -> None:
        await self.inner.close()
