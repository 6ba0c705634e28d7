"""The API server's TLS: 1.2 at least, and in TLS 1.2 only ECDHE key exchange with AEAD ciphers
(the CIS benchmark's list), so a client offering CBC or static-RSA suites cannot connect."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from tugboat.apiserver.certs import Pki
from tugboat.apiserver.server import tls_context


async def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str | None:
    """The negotiated cipher name, None when the handshake fails."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                               server_hostname="localhost"), 10)
        cipher = w.get_extra_info("cipher")
        w.close()
        return cipher[0] if cipher else None
    except (ssl.SSLError, ConnectionError):
        return None
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def server_ctx(tmp_path: Path) -> ssl.SSLContext:
    pki = Pki(tmp_path)
    pki.ensure("127.0.0.1")
    return tls_context(pki.dir)


def client(tmp_path: Path, *, version: ssl.TLSVersion, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


async def test_tls12_aead_only(server_ctx: ssl.SSLContext, tmp_path: Path) -> None:
    got = await handshake(server_ctx, client(tmp_path, version=ssl.TLSVersion.TLSv1_2))
    assert got is not None and got.startswith("ECDHE-") and ("GCM" in got or "CHACHA20" in got)
    cbc = client(tmp_path, version=ssl.TLSVersion.TLSv1_2,
                 ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256")
    assert await handshake(server_ctx, cbc) is None


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_tls13_works_and_old_versions_refused(server_ctx: ssl.SSLContext, tmp_path: Path) -> None:
    assert await handshake(server_ctx, client(tmp_path, version=ssl.TLSVersion.TLSv1_3)) is not None
    try:
        old = client(tmp_path, version=ssl.TLSVersion.TLSv1_1)
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    assert await handshake(server_ctx, old) is None
