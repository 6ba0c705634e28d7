"""Joining a node to a real `tug server` over TLS with its join token (issue 6, `tug agent
--server --token`): the token pins the CA, an impostor never sees a credential, a good token
yields a `system:node:<name>` certificate the node then works with, and is reused on restart."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import TugServer, free_port
from tests.support.wait import eventually
from tugboat.apiserver.certs import Pki
from tugboat.cli.join import JoinToken, bootstrap_secret, cluster_info, parse_join_token
from tugboat.client import Client, load_kubeconfig
from tugboat.client.clock import RealClock
from tugboat.node.agent import NodeAgent
from tugboat.node.bootstrap import BootstrapError, CaMismatch, bootstrap
from tugboat.node.runtime.simulated import SimulatedRuntime


def _token(tug: TugServer) -> JoinToken:
    return parse_join_token((tug.data_dir / "token").read_text())


def _csr_names(tug: TugServer) -> set[str]:
    out = tug.kubectl("get", "csr", "-o", "json").stdout
    return {i["metadata"]["name"] for i in orjson.loads(out)["items"]}


def _cert(kubeconfig: Path) -> x509.Certificate:
    doc = yaml.safe_load(kubeconfig.read_text())
    return x509.load_pem_x509_certificate(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))


async def test_good_token_joins_and_the_node_becomes_ready(tug: TugServer, tmp_path: Path) -> None:
    tok = _token(tug)
    # the server published the token's bootstrap Secret and cluster-info
    assert tug.kubectl("-n", "kube-system", "get", "secret", f"bootstrap-token-{tok.token_id}").returncode == 0
    path = await bootstrap([tug.url], str(tok), tmp_path / "agent", "joiner-1", timeout=60)
    assert path.stat().st_mode & 0o077 == 0
    cert = _cert(path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:joiner-1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    csrs = _csr_names(tug)
    # a restart reuses the credential: no new CSR
    assert await bootstrap([tug.url], str(tok), tmp_path / "agent", "joiner-1", timeout=60) == path
    assert _csr_names(tug) == csrs
    # the node works with its own identity
    async with Client(load_kubeconfig(str(path)), component="test-agent") as client:
        clock = RealClock()
        agent = NodeAgent(client, SimulatedRuntime(clock, node_name="joiner-1"), node_name="joiner-1",
                          data_dir=str(tmp_path / "agent" / "node"), clock=clock, host_ip="100.64.9.1")
        await agent.start()
        try:
            async def ready() -> bool:
                node = orjson.loads(tug.kubectl("get", "node", "joiner-1", "-o", "json", check=False).stdout or b"{}")
                return any(c.get("type") == "Ready" and c.get("status") == "True"
                           for c in (node.get("status") or {}).get("conditions") or [])
            await eventually(ready, 30, "joined node Ready")
            who = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                       body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
            assert who["status"]["userInfo"]["username"] == "system:node:joiner-1"
        finally:
            await agent.stop()
            tug.kubectl("delete", "node", "joiner-1", "--wait=false", check=False)


async def test_wrong_ca_hash_is_refused_before_any_credential(tug: TugServer, tmp_path: Path) -> None:
    tok = _token(tug)
    wrong = JoinToken("0" * 64, tok.token_id, tok.token_secret)
    before = _csr_names(tug)
    with pytest.raises(CaMismatch, match="refusing to join"):
        await bootstrap([tug.url], str(wrong), tmp_path / "a", "joiner-2", timeout=10)
    assert _csr_names(tug) == before
    assert not (tmp_path / "a" / "kubelet.kubeconfig").exists()


async def test_an_impostor_server_never_sees_the_token(tug: TugServer, tmp_path: Path) -> None:
    """A server with another CA that serves a cluster-info like the real one's."""
    fake = Pki(tmp_path / "impostor")
    fake.ensure("127.0.0.1")
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "auth": request.headers.get("Authorization")})
        if request.path.endswith("/configmaps/cluster-info"):
            return web.json_response(cluster_info("https://127.0.0.1", fake.ca_crt.read_bytes()))
        return web.json_response({"kind": "Status", "code": 404}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(fake.server_crt), str(fake.server_key))
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    try:
        with pytest.raises(CaMismatch):
            await bootstrap([f"https://127.0.0.1:{port}"], str(_token(tug)), tmp_path / "b", "joiner-3", timeout=10)
    finally:
        await runner.cleanup()
    assert [s["path"] for s in seen] == ["/api/v1/namespaces/kube-public/configmaps/cluster-info"]
    assert all(s["auth"] is None for s in seen)


async def test_unknown_or_expired_bootstrap_token_is_refused(tug: TugServer, tmp_path: Path) -> None:
    tok = _token(tug)
    unknown = JoinToken(tok.ca_hash, "zzzzzz", "0123456789abcdef")
    with pytest.raises(BootstrapError, match="401"):
        await bootstrap([tug.url], str(unknown), tmp_path / "c", "joiner-4", timeout=10)
    import datetime as dt

    expired = bootstrap_secret("expird", "0123456789abcdef", ttl_seconds=1,
                               now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    tug.kubectl("create", "-f", "-", input=orjson.dumps(expired).decode())
    try:
        with pytest.raises(BootstrapError, match="401"):
            await bootstrap([tug.url], str(JoinToken(tok.ca_hash, "expird", "0123456789abcdef")),
                            tmp_path / "d", "joiner-5", timeout=10)
    finally:
        tug.kubectl("-n", "kube-system", "delete", "secret", "bootstrap-token-expird", check=False)


def test_token_create_prints_a_working_token(tug: TugServer) -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", "token", "create", "--data-dir", str(tug.data_dir),
                        "--ttl", "1h"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    tok = parse_join_token(p.stdout)
    assert tok.ca_hash == _token(tug).ca_hash
    sec = orjson.loads(tug.kubectl("-n", "kube-system", "get", "secret", f"bootstrap-token-{tok.token_id}",
                                   "-o", "json").stdout)
    assert sec["type"] == "bootstrap.kubernetes.io/token"
    assert base64.b64decode(sec["data"]["expiration"])
    tug.kubectl("-n", "kube-system", "delete", "secret", f"bootstrap-token-{tok.token_id}", check=False)


async def test_kubectl_certificate_approve_issues_a_client_certificate(tug: TugServer) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, "jane")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    name = f"jane-{tug.port}"
    csr = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
           "spec": {"request": base64.b64encode(req).decode(), "signerName": "kubernetes.io/kube-apiserver-client",
                    "expirationSeconds": 3600, "usages": ["client auth"]}}
    tug.kubectl("create", "-f", "-", input=orjson.dumps(csr).decode())
    try:
        row = tug.kubectl("get", "csr", name).stdout
        assert "kubernetes.io/kube-apiserver-client" in row and "admin" in row and "Pending" in row and "60m" in row
        out = tug.kubectl("certificate", "approve", name).stdout
        assert "approved" in out

        async def issued() -> bool:
            return "Approved,Issued" in tug.kubectl("get", "csr", name).stdout
        await eventually(issued, 30, "CSR issued")
        got = orjson.loads(tug.kubectl("get", "csr", name, "-o", "json").stdout)
        cert = x509.load_pem_x509_certificate(base64.b64decode(got["status"]["certificate"]))
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "jane"
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime.total_seconds() <= 3600 + 300 + 5  # expirationSeconds plus the 5 min backdate
    finally:
        tug.kubectl("delete", "csr", name, check=False)


@pytest.mark.parametrize("text", ["", "abcdef.0123456789abcdef", "K10abc::abcdef.0123456789abcdef",
                                  "K10" + "0" * 64 + "::ABCDEF.0123456789abcdef", "K10" + "0" * 64 + "::abcdef.short"])
def test_malformed_join_tokens_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_join_token(text)


def test_join_token_round_trip() -> None:
    tok = JoinToken("ab" * 32, "abcdef", "0123456789abcdef")
    assert parse_join_token(str(tok) + "\n") == tok
    assert str(tok).startswith("K10" + "ab" * 32 + "::")


def test_tug_agent_refuses_a_server_whose_ca_does_not_match(tug: TugServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    tok = _token(tug)
    wrong = JoinToken("f" * 64, tok.token_id, tok.token_secret)
    p = subprocess.run([sys.executable, "-m", "tugboat.cli.main", "agent", "--server", tug.url, "--token", str(wrong),
                        "--data-dir", str(tmp_path / "agent"), "--node-name", "refused-1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "refusing to join" in p.stdout and "no credential was sent" in p.stdout
    assert not (tmp_path / "agent" / "kubelet.kubeconfig").exists()
