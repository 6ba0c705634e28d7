"""Cluster bootstrap data (CA certificate and key, service-account signing key) kept in the
datastore, encrypted with a key derived from the join token — k3s's way of letting a second
server join an HA cluster with nothing but `--datastore` and `--token`.

Why in the datastore: every server of one cluster must share the CA (clients and agents trust
it, the CSR signer issues node certificates with it) and the service-account key (a token one
server issued must verify on the others). Copying files by hand is what this replaces.

Why encrypted with the token: anyone with datastore access could otherwise mint admin
certificates; the token is the secret the operator already hands to servers and agents.
Format: `tugboat-bootstrap-v1:<salt b64>:<nonce+AES-256-GCM ciphertext b64>`, the key being
PBKDF2-HMAC-SHA256(passphrase, salt, 4096 iterations) — k3s uses PBKDF2 (SHA-1, 4096) + AES-GCM;
the token's 16 random [a-z0-9] characters (≈ 82 bits) are what makes guessing hopeless, so
the iteration count only needs to be k3s's. The record lives under
`/bootstrap/<first 12 hex of sha256(passphrase)>` (k3s: the same idea), so servers with
another token find nothing rather than a record they cannot read.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import orjson

from tugboat.store.backend import Backend, KeyExistsError

PREFIX = "/bootstrap/"
MAGIC = b"tugboat-bootstrap-v1"
ITERATIONS = 4096
FILES = ("ca.crt", "ca.key", "sa.key")  # under DATA_DIR/tls


class BootstrapDataError(Exception):
    """The stored bootstrap data does not decrypt with this token, or is malformed."""


def storage_key(passphrase: str) -> str:
    return PREFIX + hashlib.sha256(passphrase.encode()).hexdigest()[:12]


def _key(passphrase: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, ITERATIONS, dklen=32)


def encrypt(passphrase: str, files: dict[str, bytes]) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    plain = orjson.dumps({k: base64.b64encode(v).decode() for k, v in files.items()})
    sealed = nonce + AESGCM(_key(passphrase, salt)).encrypt(nonce, plain, MAGIC)
    return b":".join((MAGIC, base64.b64encode(salt), base64.b64encode(sealed)))


def decrypt(passphrase: str, blob: bytes) -> dict[str, bytes]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        magic, salt_b64, sealed_b64 = blob.split(b":")
        if magic != MAGIC:
            raise ValueError(f"unknown format {magic[:30]!r}")
        salt, sealed = base64.b64decode(salt_b64), base64.b64decode(sealed_b64)
        plain = AESGCM(_key(passphrase, salt)).decrypt(sealed[:12], sealed[12:], MAGIC)
        return {k: base64.b64decode(v) for k, v in orjson.loads(plain).items()}
    except InvalidTag:
        raise BootstrapDataError("the datastore's bootstrap data does not decrypt with this token") from None
    except (ValueError, TypeError, orjson.JSONDecodeError) as e:
        raise BootstrapDataError(f"malformed bootstrap data in the datastore: {e}") from None


async def load(backend: Backend, passphrase: str) -> dict[str, bytes] | None:
    """The stored files for this token, or None when no server stored any yet."""
    kv = await backend.get(storage_key(passphrase))
    return None if kv is None else decrypt(passphrase, kv.value)


async def store(backend: Backend, passphrase: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """Store `files` unless another server was first; returns what the datastore now holds
    (ours, or the first server's — the caller must then use those)."""
    try:
        await backend.create(storage_key(passphrase), encrypt(passphrase, files))
    except KeyExistsError:
        got = await load(backend, passphrase)
        if got is None:  # deleted in between: try once more
            await backend.create(storage_key(passphrase), encrypt(passphrase, files))
            return files
        return got
    return files


def read_files(tls_dir: Path, names: tuple[str, ...] = FILES) -> dict[str, bytes]:
    return {n: (tls_dir / n).read_bytes() for n in names if (tls_dir / n).exists()}


def write_files(tls_dir: Path, files: dict[str, bytes]) -> None:
    """Write the files (0600, atomically) into `tls_dir`."""
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, data in files.items():
        if name not in FILES:
            continue  # never write outside the known names
        tmp = tls_dir / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, tls_dir / name)
