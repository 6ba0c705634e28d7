"""Safe by default: the automated checks of kube-bench's k3s CIS profile that apply to Tugboat
(reliability-security-anchors §5 item 15), run against a real `tug server`.

kube-bench itself is a Go binary from GitHub, which this machine cannot download, so the
checks are restated here: file modes of the data dir, keys, kubeconfigs, token and datastore
(CIS 1.1.x); anonymous requests only reach health and version (1.2.1); authorization is
Node,RBAC (1.2.6-1.2.8); TLS 1.2+ with AEAD ciphers only (1.2.30/1.2.31); no profiling
endpoints (1.2.18).
"""

from __future__ import annotations

import socket
import ssl
import stat
import warnings
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import TugServer, start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def srv():
    token_file = Path(__import__("tempfile").mkdtemp(prefix="tug-tokens-")) / "tokens.csv"
    token_file.write_text('plain-user-token,plain,1001,"dev"\n')
    s = start_server(["--token-auth-file", str(token_file)])
    try:
        yield s
    finally:
        stop_server(s)
        __import__("shutil").rmtree(token_file.parent, ignore_errors=True)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_data_dir_keys_kubeconfigs_and_datastore_are_owner_only(srv: TugServer):
    data = srv.data_dir
    assert _mode(data) == 0o700
    assert _mode(data / "tls") == 0o700
    secret_files = [*(data / "tls").glob("*.key"), *data.glob("*.kubeconfig"), data / "kubeconfig.yaml",
                    data / "token", *data.glob("state.db*")]
    assert len(secret_files) >= 6, secret_files
    loose = {str(p): oct(_mode(p)) for p in secret_files if _mode(p) & 0o077}
    assert not loose, f"readable by others: {loose}"


def _ca(srv: TugServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(srv.data_dir / "tls" / "ca.crt"))


def _url(srv: TugServer, path: str) -> str:
    return f"https://127.0.0.1:{srv.port}{path}"


def test_anonymous_requests_reach_only_health_and_version(srv: TugServer):
    with httpx.Client(verify=_ca(srv)) as http:
        for path in ("/healthz", "/livez", "/readyz", "/version"):
            assert http.get(_url(srv, path)).status_code == 200, path
        for path in ("/api/v1/namespaces", "/api/v1/secrets", "/metrics", "/apis", "/openapi/v2"):
            r = http.get(_url(srv, path))
            assert r.status_code == 401 and r.json()["reason"] == "Unauthorized", path


def test_authorization_is_rbac_default_deny(srv: TugServer):
    headers = {"Authorization": "Bearer plain-user-token"}
    with httpx.Client(verify=_ca(srv), headers=headers) as http:
        r = http.get(_url(srv, "/api/v1/namespaces/default/secrets"))
        assert r.status_code == 403
        assert r.json()["message"] == ('secrets is forbidden: User "plain" cannot list resource "secrets" in API '
                                       'group "" in the namespace "default"')
        # discovery stays readable for every authenticated user (system:discovery)
        assert http.get(_url(srv, "/api")).status_code == 200


def test_no_profiling_endpoints(srv: TugServer):
    with httpx.Client(verify=_ca(srv),
                      headers={"Authorization": "Bearer plain-user-token"}) as http:
        for path in ("/debug/pprof/", "/debug/pprof/profile", "/debug/flags/v"):
            assert http.get(_url(srv, path)).status_code in (403, 404), path


def _handshake(srv: TugServer, ctx: ssl.SSLContext) -> tuple[str, str] | None:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            cipher = tls.cipher()
            return (tls.version() or "", cipher[0] if cipher else "")
    except (ssl.SSLError, ConnectionResetError):
        return None


def test_tls_is_1_2_or_newer_with_aead_ciphers_only(srv: TugServer):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with warnings.catch_warnings():  # the client side of an old handshake is deprecated too
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    assert _handshake(srv, old) is None
    cbc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE+AES128+SHA:ECDHE+AES256+SHA:AES128-SHA:AES256-SHA")
    assert _handshake(srv, cbc) is None
    tls12 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    got = _handshake(srv, tls12)
    assert got is not None and got[0] == "TLSv1.2" and ("GCM" in got[1] or "CHACHA20" in got[1]), got
    modern = _handshake(srv, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    assert modern is not None and modern[0] == "TLSv1.3", modern
