"""HA bootstrap data: the first server stores the CA and keys in the datastore encrypted with
its join token; a second server with only the token fetches them, and refuses a CA that does
not match the token's pin, a token that does not decrypt, or a data dir of another cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tugboat.apiserver import bootstrapdata as bd
from tugboat.apiserver.certs import Pki
from tugboat.cli.ha_bootstrap import BootstrapRefused, TokenArg, fetch, parse_token_arg, publish
from tugboat.cli.join import ca_hash, parse_join_token
from tugboat.store.memory import MemoryBackend

FILES = {"ca.crt": b"-----BEGIN CERTIFICATE-----\nx\n", "ca.key": b"k", "sa.key": b"s"}


def test_encrypt_round_trip_and_wrong_token() -> None:
    blob = bd.encrypt("abcdef.0123456789abcdef", FILES)
    assert b"BEGIN CERTIFICATE" not in blob and b"ca.key" not in blob  # nothing readable at rest
    assert bd.decrypt("abcdef.0123456789abcdef", blob) == FILES
    with pytest.raises(bd.BootstrapDataError, match="does not decrypt"):
        bd.decrypt("abcdef.0123456789abcdeX", blob)
    tampered = blob[:-3] + (b"AAA" if blob[-3:] != b"AAA" else b"BBB")
    with pytest.raises(bd.BootstrapDataError):
        bd.decrypt("abcdef.0123456789abcdef", tampered)
    # the record's key depends on the token, so another token finds nothing
    assert bd.storage_key("abcdef.0123456789abcdef") != bd.storage_key("ghijkl.0123456789abcdef")
    assert bd.storage_key("abcdef.0123456789abcdef").startswith("/bootstrap/")


async def test_store_keeps_the_first_servers_data() -> None:
    b = MemoryBackend()
    await b.start()
    try:
        assert await bd.load(b, "p") is None
        assert await bd.store(b, "p", FILES) == FILES
        other = {**FILES, "ca.crt": b"other"}
        assert await bd.store(b, "p", other) == FILES  # the first one wins; the caller adopts it
        assert await bd.load(b, "p") == FILES
    finally:
        await b.close()


def test_token_arg_forms() -> None:
    assert parse_token_arg("abcdef.0123456789abcdef") == TokenArg("abcdef.0123456789abcdef", "")
    k10 = "K10" + "a" * 64 + "::abcdef.0123456789abcdef"
    assert parse_token_arg(k10) == TokenArg("abcdef.0123456789abcdef", "a" * 64)
    with pytest.raises(BootstrapRefused):
        parse_token_arg("secret")


def _first_server(data: Path) -> None:
    Pki(data).ensure("127.0.0.1")
    (data / "tls" / "sa.key").write_bytes(b"sa-key-pem")


async def test_second_server_gets_the_first_ones_ca_and_keys(tmp_path: Path) -> None:
    b = MemoryBackend()
    await b.start()
    try:
        first, second = tmp_path / "a", tmp_path / "b"
        _first_server(first)
        await publish(b, first, None)  # no --token: its own generated token
        token = (first / "token").read_text().strip()
        tok = parse_join_token(token)
        assert tok.ca_hash == ca_hash((first / "tls/ca.crt").read_bytes())
        assert await fetch(b, second, parse_token_arg(token)) is True
        for f in ("ca.crt", "ca.key", "sa.key"):
            assert (second / "tls" / f).read_bytes() == (first / "tls" / f).read_bytes()
            assert (second / "tls" / f).stat().st_mode & 0o077 == 0
        assert (second / "token").read_text().strip() == token
        # a restart of either server is fine (same CA)
        await publish(b, first, parse_token_arg(token))
        assert await fetch(b, second, parse_token_arg(token)) is True
        # a token pinning another CA is refused, before anything is written
        bad = "K10" + "0" * 64 + "::" + tok.bootstrap_token
        with pytest.raises(BootstrapRefused, match="does not match the token's pin"):
            await fetch(b, tmp_path / "c", parse_token_arg(bad))
        assert not (tmp_path / "c" / "tls").exists()
        # a token with another secret finds no data (and, pinned, refuses to start a new cluster)
        wrong = f"K10{tok.ca_hash}::{tok.token_id}.{'z' * 16}"
        with pytest.raises(BootstrapRefused, match="no cluster bootstrap data"):
            await fetch(b, tmp_path / "d", parse_token_arg(wrong))
        # a data dir holding another cluster's CA is refused
        _first_server(tmp_path / "e")
        with pytest.raises(BootstrapRefused, match="another cluster's CA"):
            await fetch(b, tmp_path / "e", parse_token_arg(f"K10{tok.ca_hash}::{tok.bootstrap_token}"))
    finally:
        await b.close()


async def test_first_server_with_a_chosen_bare_token(tmp_path: Path) -> None:
    b = MemoryBackend()
    await b.start()
    try:
        arg = parse_token_arg("abcdef.0123456789abcdef")
        assert await fetch(b, tmp_path / "a", arg) is False  # nothing stored yet: this is the first
        _first_server(tmp_path / "a")
        await publish(b, tmp_path / "a", arg)
        tok = parse_join_token((tmp_path / "a" / "token").read_text())
        assert tok.bootstrap_token == "abcdef.0123456789abcdef"
        assert tok.ca_hash == ca_hash((tmp_path / "a/tls/ca.crt").read_bytes())
        # the next server may use the same bare token too
        assert await fetch(b, tmp_path / "b", arg) is True
        assert (tmp_path / "b/tls/ca.crt").read_bytes() == (tmp_path / "a/tls/ca.crt").read_bytes()
        # two first servers at once: the one that stored second must not keep its own CA
        _first_server(tmp_path / "x")
        with pytest.raises(BootstrapRefused, match="different cluster CA"):
            await publish(b, tmp_path / "x", arg)
    finally:
        await b.close()
