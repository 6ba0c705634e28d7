"""TLS material for a single-server cluster: CA, serving cert, admin client cert, kubeconfig.

Created once in DATA_DIR/tls on first start (files mode 0600, dir 0700) and reused after;
the serving certificate is re-issued if the requested SANs are not all covered.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, pub: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=VALID_DAYS)))


def sans_for(bind_address: str) -> tuple[list[str], list[str]]:
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local"]
    host = socket.gethostname()
    if host and host not in dns:
        dns.append(host)
    ips = ["127.0.0.1", "10.96.0.1"]
    if bind_address and bind_address not in ips and bind_address not in ("0.0.0.0", "::"):
        ips.append(bind_address)
    return dns, ips


class Pki:
    def __init__(self, data_dir: Path):
        self.dir = data_dir / "tls"
        self.ca_crt = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self.server_crt = self.dir / "server.crt"
        self.server_key = self.dir / "server.key"
        self.admin_crt = self.dir / "admin.crt"
        self.admin_key = self.dir / "admin.key"

    def ensure(self, bind_address: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        if not self.ca_crt.exists() or not self.ca_key.exists():
            k = _key()
            name = _name("tugboat-ca")
            cert = (_builder(name, name, k.public_key())
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), True)
                    .sign(k, hashes.SHA256()))
            _write(self.ca_key, _pem_key(k))
            _write(self.ca_crt, cert.public_bytes(serialization.Encoding.PEM))
            for p in (self.server_crt, self.admin_crt):
                p.unlink(missing_ok=True)
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(self.ca_crt.read_bytes())
        dns, ips = sans_for(bind_address)
        if not self._covers(dns, ips):
            k = _key()
            san = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] +
                                              [x509.IPAddress(ipaddress.ip_address(i)) for i in ips])
            cert = (_builder(_name("kube-apiserver"), ca.subject, k.public_key())
                    .add_extension(san, critical=False)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                    .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
            _write(self.server_key, _pem_key(k))
            _write(self.server_crt, cert.public_bytes(serialization.Encoding.PEM))
        self.client_cert("admin", "admin", "system:masters")

    def client_cert(self, stem: str, cn: str, org: str | None = None) -> tuple[Path, Path]:
        """A client certificate (CN = user, O = group) signed by the CA, created once as
        tls/<stem>.crt/.key; each component gets its own identity this way."""
        crt, key = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        if not crt.exists() or not key.exists():
            ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
            ca = x509.load_pem_x509_certificate(self.ca_crt.read_bytes())
            k = _key()
            cert = (_builder(_name(cn, org), ca.subject, k.public_key())
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                    .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
            _write(key, _pem_key(k))
            _write(crt, cert.public_bytes(serialization.Encoding.PEM))
        return crt, key

    def _covers(self, dns: list[str], ips: list[str]) -> bool:
        if not self.server_crt.exists() or not self.server_key.exists():
            return False
        try:
            cert = x509.load_pem_x509_certificate(self.server_crt.read_bytes())
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        have_dns = set(san.get_values_for_type(x509.DNSName))
        have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
        return set(dns) <= have_dns and set(ips) <= have_ips

    def kubeconfig(self, server: str, stem: str = "admin") -> str:
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()  # noqa: E731
        crt, key = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        doc = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "tugboat", "cluster": {"server": server,
                                                          "certificate-authority-data": b64(self.ca_crt)}}],
            "users": [{"name": stem, "user": {"client-certificate-data": b64(crt),
                                              "client-key-data": b64(key)}}],
            "contexts": [{"name": "tugboat", "context": {"cluster": "tugboat", "user": stem}}],
            "current-context": "tugboat",
        }
        return yaml.safe_dump(doc, sort_keys=False)

    def write_kubeconfig(self, path: Path, server: str, stem: str = "admin") -> None:
        _write(path, self.kubeconfig(server, stem).encode())
