"""TLS bootstrap of a joining node: from a join token to the node's own client certificate.

The order is what keeps the token safe from an impostor server (k3s's CA pinning, kubeadm's
discovery):
1. read the cluster CA from `kube-public/cluster-info` over TLS *without* trusting the server
   and without sending anything secret; compare the CA's sha256 with the one pinned in the
   join token and refuse on mismatch (`CaMismatch`), before any credential leaves the host;
2. from then on trust only that CA: a server that cannot prove it holds a certificate of this
   CA never sees the bootstrap token;
3. create a CertificateSigningRequest for `system:node:<name>` (O `system:nodes`, signer
   `kubernetes.io/kube-apiserver-client-kubelet`) authenticated by the bootstrap token, wait
   until the cluster approves and signs it, then write DATA_DIR/kubelet.kubeconfig (key and
   certificate embedded, mode 0600). On restart a kubeconfig whose certificate is still valid
   for the same CA and node is reused, without a new CSR.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
import secrets
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tugboat.cli.join import JoinToken, ca_hash, parse_join_token
from tugboat.client import Client, Config
from tugboat.client.errors import ApiStatusError

log = logging.getLogger(__name__)
KUBECONFIG_NAME = "kubelet.kubeconfig"
SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


class BootstrapError(Exception):
    """Joining failed; the message says why, for a person."""


class CaMismatch(BootstrapError):
    """The server's CA is not the one the join token pins."""


async def fetch_ca(server: str, timeout: float = 10.0) -> bytes:
    """The CA PEM the server publishes in cluster-info, read without trusting the server and
    without credentials."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s, \
            s.get(server.rstrip("/") + CLUSTER_INFO, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        body = await r.read()
        if r.status != 200:
            raise BootstrapError(f"{server}: cannot read kube-public/cluster-info (HTTP {r.status}); is this a "
                                 f"tug server and does it allow anonymous reads of cluster-info?")
    try:
        kc = yaml.safe_load(orjson.loads(body)["data"]["kubeconfig"])
        return base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as e:
        raise BootstrapError(f"{server}: malformed cluster-info: {e}") from e


async def pinned_ca(servers: Sequence[str], tok: JoinToken) -> tuple[str, bytes]:
    """The first reachable server and its CA, which must hash to the token's pin."""
    last: Exception | None = None
    for server in servers:
        try:
            ca = await fetch_ca(server)
        except (aiohttp.ClientError, TimeoutError, BootstrapError) as e:
            last = e
            continue
        got = ca_hash(ca)
        if got != tok.ca_hash:
            raise CaMismatch(f"{server} presents a cluster CA with sha256 {got}, but the join token pins "
                             f"{tok.ca_hash}: refusing to join (wrong token, or not the server you meant); "
                             f"no credential was sent")
        return server, ca
    raise BootstrapError(f"no server answered ({', '.join(servers)}): {last}")


def _csr(node_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}")]))
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, req.public_bytes(serialization.Encoding.PEM)


async def request_certificate(client: Client, node_name: str, csr_pem: bytes, timeout: float) -> bytes:
    """Create the CSR and wait for its certificate (BootstrapError on Denied/Failed/timeout)."""
    name = f"node-csr-{secrets.token_hex(8)}"
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": SIGNER,
                     "usages": ["digital signature", "client auth"]}}
    await client.request("POST", CSR_PATH, body=body)
    log.info("created CSR %s for node %s; waiting for approval", name, node_name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        csr = await client.request("GET", f"{CSR_PATH}/{name}")
        status = csr.get("status") or {}
        for c in status.get("conditions") or []:
            if c.get("type") in ("Denied", "Failed") and c.get("status") == "True":
                raise BootstrapError(f"CSR {name} {c['type'].lower()}: {c.get('reason', '')} {c.get('message', '')}")
        if status.get("certificate"):
            return base64.b64decode(status["certificate"])
        await asyncio.sleep(0.5)
    raise BootstrapError(f"CSR {name} was not signed within {timeout:.0f}s (is the csrsigning controller "
                         f"running with the cluster CA? approve by hand: kubectl certificate approve {name})")


def kubeconfig_doc(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, node_name: str) -> dict[str, Any]:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    user = f"system:node:{node_name}"
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "tugboat", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
            "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem),
                                              "client-key-data": b64(key_pem)}}],
            "contexts": [{"name": "tugboat", "context": {"cluster": "tugboat", "user": user}}],
            "current-context": "tugboat"}


def reusable(path: Path, tok: JoinToken, node_name: str, now: dt.datetime) -> bool:
    """An existing kubeconfig for this node, this CA, with a certificate valid for another hour."""
    try:
        doc = yaml.safe_load(path.read_text())
        ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
        cert = x509.load_pem_x509_certificate(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))
    except (OSError, KeyError, IndexError, TypeError, ValueError, yaml.YAMLError):
        return False
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (ca_hash(ca) == tok.ca_hash and cns == [f"system:node:{node_name}"]
            and cert.not_valid_after_utc > now + dt.timedelta(hours=1))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


async def bootstrap(servers: Sequence[str], token: str, data_dir: str | Path, node_name: str, *,
                    timeout: float = 300.0) -> Path:
    """The node's kubeconfig path, joining the cluster first unless a valid one exists."""
    tok = parse_join_token(token)
    data = Path(data_dir)
    path = data / KUBECONFIG_NAME
    if reusable(path, tok, node_name, dt.datetime.now(dt.UTC)):
        log.info("reusing the node credential in %s", path)
        return path
    server, ca = await pinned_ca(servers, tok)
    key_pem, csr_pem = _csr(node_name)
    cfg = Config(server=server.rstrip("/"), ca_data=ca, token=tok.bootstrap_token)
    async with Client(cfg, component="tug-agent-bootstrap", max_retries=3) as client:
        try:
            cert_pem = await request_certificate(client, node_name, csr_pem, timeout)
        except ApiStatusError as e:
            if e.code in (401, 403):
                raise BootstrapError(f"{server} refused the join token ({e.code} {e.reason}): it is unknown, "
                                     f"expired or not allowed to request node certificates") from e
            raise
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(path, yaml.safe_dump(kubeconfig_doc(server.rstrip("/"), ca, cert_pem, key_pem, node_name),
                                        sort_keys=False).encode())
    log.info("node %s joined %s; credential in %s", node_name, server, path)
    return path


async def agent_config(kubeconfig: str, servers: Sequence[str], token: str, data_dir: str | Path,
                       node_name: str) -> Config:
    """The client Config of `tug agent`: an explicit kubeconfig, or a joined node's own one
    (joining first if needed). Several `--server`s make the client fail over between them."""
    from tugboat.client import load_kubeconfig

    if not kubeconfig and not token:
        raise BootstrapError("give --kubeconfig FILE, or --server URL --token TOKEN to join a cluster")
    if token and not kubeconfig:
        if not servers:
            raise BootstrapError("--token needs --server URL (repeat --server for every API server)")
        kubeconfig = str(await bootstrap(servers, token, data_dir, node_name))
    cfg = load_kubeconfig(kubeconfig)
    if servers:
        cfg.servers = tuple(s.rstrip("/") for s in servers)
    return cfg
