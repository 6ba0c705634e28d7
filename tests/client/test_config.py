from __future__ import annotations

import base64
import datetime as dt
import ssl
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.client.fakeserver import rt_of
from tugboat.client.config import ConfigError, load_default, load_incluster, load_kubeconfig
from tugboat.client.rest import Client

NS = rt_of("", "v1", "Namespace")


def _cert(cn: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, ca: bool = False,
          san: str | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer[0].subject if issuer else name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
         .not_valid_after(now + dt.timedelta(hours=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        import ipaddress
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]), False)
    return b.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def _kpem(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    ca = _cert("ca", None, ca=True)
    srv = _cert("server", ca, san="127.0.0.1")
    cli = _cert("alice", ca)
    return {"ca": _pem(ca[0]), "srv": _pem(srv[0]), "srv_key": _kpem(srv[1]), "cli": _pem(cli[0]),
            "cli_key": _kpem(cli[1])}


def _kubeconfig(server: str, user: dict[str, str], cluster: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team"}},
                         {"name": "other", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {"server": server, **cluster}}],
            "users": [{"name": "u", "user": user}]}


def test_kubeconfig_data_and_relative_files(tmp_path: Path, pki: dict[str, bytes]) -> None:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    p = tmp_path / "kc.yaml"
    p.write_text(yaml.safe_dump(_kubeconfig("https://127.0.0.1:6443/",
                                            {"client-certificate-data": b64(pki["cli"]),
                                             "client-key-data": b64(pki["cli_key"])},
                                            {"certificate-authority-data": b64(pki["ca"])})))
    cfg = load_kubeconfig(p)
    assert cfg.server == "https://127.0.0.1:6443" and cfg.namespace == "team"
    assert cfg.ca_data == pki["ca"] and cfg.key_data == pki["cli_key"]
    assert isinstance(cfg.ssl_context(), ssl.SSLContext)
    assert load_kubeconfig(p, context="other").namespace == "default"

    (tmp_path / "pki").mkdir()
    for n in ("ca", "cli", "cli_key"):
        (tmp_path / "pki" / n).write_bytes(pki[n])
    (tmp_path / "tok").write_text("s3cret\n")
    p.write_text(yaml.safe_dump(_kubeconfig("https://h:1", {"client-certificate": "pki/cli",
                                                           "client-key": "pki/cli_key", "tokenFile": "tok"},
                                            {"certificate-authority": "pki/ca"})))
    cfg = load_kubeconfig(p)
    assert cfg.ca_file == str(tmp_path / "pki" / "ca") and cfg.bearer_token() == "s3cret"
    assert isinstance(cfg.ssl_context(), ssl.SSLContext)


def test_kubeconfig_errors(tmp_path: Path) -> None:
    p = tmp_path / "kc.yaml"
    with pytest.raises(ConfigError):
        load_kubeconfig(p)
    p.write_text(yaml.safe_dump({"current-context": "nope", "contexts": []}))
    with pytest.raises(ConfigError, match="nope"):
        load_kubeconfig(p)


def test_insecure_skip_verify(tmp_path: Path) -> None:
    p = tmp_path / "kc.yaml"
    p.write_text(yaml.safe_dump(_kubeconfig("https://h:1", {"token": "t"}, {"insecure-skip-tls-verify": True})))
    ctx = load_kubeconfig(p).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_incluster(tmp_path: Path, pki: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        load_incluster({}, str(tmp_path))
    (tmp_path / "token").write_text("tok")
    (tmp_path / "ca.crt").write_bytes(pki["ca"])
    (tmp_path / "namespace").write_text("apps")
    cfg = load_incluster({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, str(tmp_path))
    assert cfg.server == "https://[fd00::1]:443" and cfg.namespace == "apps"
    assert cfg.bearer_token() == "tok" and cfg.ca_file == str(tmp_path / "ca.crt")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError):
        load_default()


async def test_mutual_tls_against_https_server(tmp_path: Path, pki: dict[str, bytes]) -> None:
    for n in ("ca", "srv", "srv_key"):
        (tmp_path / n).write_bytes(pki[n])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tmp_path / "srv", tmp_path / "srv_key")
    sctx.load_verify_locations(tmp_path / "ca")
    sctx.verify_mode = ssl.CERT_REQUIRED

    async def handler(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        cn = dict(x[0] for x in peer["subject"])["commonName"] if peer else ""
        return web.json_response({"kind": "Namespace", "metadata": {"name": cn},
                                  "ua": request.headers.get("User-Agent")})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{name}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=sctx)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    p = tmp_path / "kc.yaml"
    p.write_text(yaml.safe_dump(_kubeconfig(f"https://127.0.0.1:{server.port}",
                                            {"client-certificate-data": b64(pki["cli"]),
                                             "client-key-data": b64(pki["cli_key"])},
                                            {"certificate-authority-data": b64(pki["ca"])})))
    c = Client(load_kubeconfig(p), component="scheduler")
    try:
        got = await c.get(NS, "x")
        assert got["metadata"]["name"] == "alice"  # the server saw our client certificate
        assert got["ua"] == "tugboat/scheduler"
    finally:
        await c.close()
        await server.close()
