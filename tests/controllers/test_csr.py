"""Node join on the API side: bootstrap tokens authenticate, CSRs record their requester,
approval and status change only their parts, and the approving + signing controllers turn a
bootstrap node's request into a `system:node:<name>` certificate (and nothing else)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.wait import eventually
from tugboat.apiserver.authn_bootstrap import user_for_token
from tugboat.apiserver.certs import Pki
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.server import ApiServer
from tugboat.cli.join import bootstrap_secret
from tugboat.client import Client, Config, InformerFactory
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import ControllerContext
from tugboat.controllers.csr_approving import CsrApprovingController
from tugboat.controllers.csr_signing import CsrSigningController
from tugboat.store.memory import MemoryBackend

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
ADMIN_TOKEN = "admin-token-for-tests"
TID, TSECRET = "abcdef", "0123456789abcdef"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_bootstrap_token_user_and_groups() -> None:
    sec = bootstrap_secret(TID, TSECRET)
    user, why = user_for_token(f"{TID}.{TSECRET}", sec, NOW.timestamp())
    assert why == "" and user is not None
    assert user.name == f"system:bootstrap:{TID}"
    assert user.groups[0] == "system:bootstrappers"
    assert "system:bootstrappers:kubeadm:default-node-token" in user.groups


@pytest.mark.parametrize("case", ["wrong-secret", "expired", "missing", "no-auth-usage", "deleting", "bad-group"])
def test_bootstrap_token_refusals(case: str) -> None:
    token = f"{TID}.{TSECRET}"
    sec: dict[str, Any] | None = bootstrap_secret(TID, TSECRET, ttl_seconds=60, now=NOW)
    now = NOW.timestamp()
    if case == "wrong-secret":
        token = f"{TID}.{'x' * 16}"
    elif case == "expired":
        now += 61
    elif case == "missing":
        sec = None
    elif case == "no-auth-usage":
        assert sec is not None
        sec["data"]["usage-bootstrap-authentication"] = base64.b64encode(b"false").decode()
    elif case == "deleting":
        assert sec is not None
        sec["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    elif case == "bad-group":
        assert sec is not None
        sec["data"]["auth-extra-groups"] = base64.b64encode(b"system:masters").decode()
    user, why = user_for_token(token, sec, now)
    assert user is None and why


def _csr_pem(cn: str, org: str | None = "system:nodes", dns: list[str] | None = None) -> tuple[bytes, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if dns:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM), key


def _csr(name: str, pem: bytes, usages: list[str] | None = None,
         signer: str = "kubernetes.io/kube-apiserver-client-kubelet") -> dict[str, Any]:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer,
                     "usages": usages or ["digital signature", "client auth"],
                     "username": "forged", "groups": ["system:masters"]}}


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, *, controllers: bool = True) -> AsyncIterator[tuple[Client, Client, Pki]]:
    """An authenticating API server (static admin token + bootstrap tokens) over plain HTTP,
    the CSR controllers signing with a fresh CA; yields (admin, bootstrap client, pki)."""
    pki = Pki(tmp_path)
    pki.ensure("127.0.0.1")
    backend = MemoryBackend()
    await backend.start()
    srv = ApiServer(backend, tokens={ADMIN_TOKEN: UserInfo("admin", ("system:masters", "system:authenticated"))})
    await srv.start()
    ts = TestServer(srv.app(), host="127.0.0.1")
    await ts.start_server()
    url = f"http://127.0.0.1:{ts.port}"
    admin = Client(Config(server=url, token=ADMIN_TOKEN))
    boot = Client(Config(server=url, token=f"{TID}.{TSECRET}"), max_retries=0)
    await admin.request("POST", "/api/v1/namespaces/kube-system/secrets", body=bootstrap_secret(TID, TSECRET))
    ctx = ControllerContext(admin, InformerFactory(admin), options={"csrsigning": {
        "cluster_signing_cert_file": str(pki.ca_crt), "cluster_signing_key_file": str(pki.ca_key)}})
    ctls = [CsrApprovingController(ctx), CsrSigningController(ctx)] if controllers else []
    for c in ctls:
        c.setup()
    ctx.informers.start()
    tasks = [asyncio.create_task(c.run()) for c in ctls]
    try:
        yield admin, boot, pki
    finally:
        for c in ctls:
            await c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ctx.informers.stop()
        await admin.close()
        await boot.close()
        await ts.close()
        await srv.stop()
        await backend.close()


async def _cert_of(client: Client, name: str) -> x509.Certificate:
    async def issued() -> Any:
        csr = await client.request("GET", f"{CSRS}/{name}")
        return (csr.get("status") or {}).get("certificate")
    return x509.load_pem_x509_certificate(base64.b64decode(await eventually(issued, 20, "certificate")))


async def test_bootstrap_node_gets_a_node_certificate(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (admin, boot, pki):
        pem, key = _csr_pem("system:node:n1")
        created = await boot.request("POST", CSRS, body=_csr("n1", pem))
        # the requester comes from the credential, never from the body
        assert created["spec"]["username"] == f"system:bootstrap:{TID}"
        assert "system:masters" not in created["spec"]["groups"]
        cert = await _cert_of(admin, "n1")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
        assert cert.public_key() == key.public_key()
        ca = x509.load_pem_x509_certificate(pki.ca_crt.read_bytes())
        cert.verify_directly_issued_by(ca)
        csr = await admin.request("GET", f"{CSRS}/n1")
        approved = [c for c in csr["status"]["conditions"] if c["type"] == "Approved"]
        assert approved[0]["reason"] == "AutoApproved"
        assert approved[0]["message"] == "Auto approving kubelet client certificate after SubjectAccessReview."


@pytest.mark.parametrize("what", ["wrong-org", "with-dns", "server-usage", "not-a-node"])
async def test_not_a_kubelet_client_request_stays_pending(tmp_path: Path, what: str) -> None:
    async with cluster(tmp_path) as (admin, boot, _pki):
        usages = None
        if what == "wrong-org":
            pem, _ = _csr_pem("system:node:n1", org="system:masters")
        elif what == "with-dns":
            pem, _ = _csr_pem("system:node:n1", dns=["evil.example"])
        elif what == "not-a-node":
            pem, _ = _csr_pem("admin")
        else:
            pem, _ = _csr_pem("system:node:n1")
            usages = ["digital signature", "client auth", "server auth"]
        await boot.request("POST", CSRS, body=_csr("x", pem, usages))
        # a request that is approvable goes through meanwhile, so the controllers did run
        ok, _ = _csr_pem("system:node:n2")
        await boot.request("POST", CSRS, body=_csr("ok", ok))
        await _cert_of(admin, "ok")
        csr = await admin.request("GET", f"{CSRS}/x")
        assert not (csr.get("status") or {}).get("conditions")
        assert not (csr.get("status") or {}).get("certificate")


async def test_an_admin_request_is_not_auto_approved_but_kubectl_style_approval_signs_it(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (admin, _boot, _pki):
        pem, _ = _csr_pem("jane", org="devs")
        await admin.request("POST", CSRS, body=_csr("jane", pem, signer="kubernetes.io/kube-apiserver-client"))
        csr = await admin.request("GET", f"{CSRS}/jane")
        assert csr["spec"]["username"] == "admin"
        assert not (csr.get("status") or {}).get("conditions")
        # what `kubectl certificate approve` sends
        csr.setdefault("status", {})["conditions"] = [{"type": "Approved", "status": "True",
                                                       "reason": "KubectlApprove",
                                                       "message": "This CSR was approved by kubectl certificate approve."}]
        csr["spec"]["usages"] = ["server auth"]  # ignored: approval changes conditions only
        out = await admin.request("PUT", f"{CSRS}/jane/approval", body=csr)
        assert out["spec"]["usages"] == ["digital signature", "client auth"]
        assert out["status"]["conditions"][0]["lastUpdateTime"]
        cert = await _cert_of(admin, "jane")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "jane"


async def test_status_may_not_approve_and_spec_is_immutable(tmp_path: Path) -> None:
    async with cluster(tmp_path, controllers=False) as (admin, _boot, _pki):
        pem, _ = _csr_pem("system:node:n1")
        csr = await admin.request("POST", CSRS, body=_csr("n1", pem))
        csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Sneaky"}]}
        with pytest.raises(ApiStatusError) as e:
            await admin.request("PUT", f"{CSRS}/n1/status", body=csr)
        assert e.value.code == 422 and 'may not add a condition of type "Approved"' in e.value.message
        csr = await admin.request("GET", f"{CSRS}/n1")
        csr["spec"]["signerName"] = "example.com/other"
        out = await admin.request("PUT", f"{CSRS}/n1", body=csr)
        assert out["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
        csr = await admin.request("GET", f"{CSRS}/n1")
        csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R"},
                                        {"type": "Denied", "status": "True", "reason": "R"}]}
        with pytest.raises(ApiStatusError) as e:
            await admin.request("PUT", f"{CSRS}/n1/approval", body=csr)
        assert "mutually exclusive" in e.value.message


async def test_invalid_csr_is_rejected(tmp_path: Path) -> None:
    async with cluster(tmp_path, controllers=False) as (admin, _boot, _pki):
        bad = _csr("bad", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        bad["spec"]["expirationSeconds"] = 60
        with pytest.raises(ApiStatusError) as e:
            await admin.request("POST", CSRS, body=bad)
        assert e.value.code == 422
        assert "PEM block type must be CERTIFICATE REQUEST" in e.value.message
        assert "600 seconds" in e.value.message


async def test_unknown_or_expired_bootstrap_token_gets_401(tmp_path: Path) -> None:
    async with cluster(tmp_path, controllers=False) as (admin, boot, _pki):
        assert (await boot.request("GET", CSRS))["kind"] == "CertificateSigningRequestList"
        await admin.request("POST", "/api/v1/namespaces/kube-system/secrets",
                            body=bootstrap_secret("expird", "0123456789abcdef", ttl_seconds=1,
                                                  now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
        for token in ("zzzzzz.0123456789abcdef", "expird.0123456789abcdef", f"{TID}.{'y' * 16}"):
            async with Client(Config(server=boot.config.server, token=token), max_retries=0) as c:
                with pytest.raises(ApiStatusError) as e:
                    await c.request("GET", CSRS)
                assert e.value.code == 401, token
