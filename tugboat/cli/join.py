"""Join tokens: what `tug server` hands out and `tug agent --token` consumes.

A join token is k3s's secure form, `K10<sha256 hex of the CA cert PEM>::<id>.<secret>`: the
first half pins the cluster CA (an agent refuses a server whose CA does not hash to it, before
it sends any credential), the second half is an upstream bootstrap token
(`[a-z0-9]{6}.[a-z0-9]{16}`) stored as the Secret `kube-system/bootstrap-token-<id>` of type
`bootstrap.kubernetes.io/token`, which the API server's bootstrap authenticator turns into the
user `system:bootstrap:<id>` in group `system:bootstrappers`.

`tug server` keeps its token in DATA_DIR/token (reused on restart and shared by HA servers
that copy it), makes sure its Secret exists, and publishes the CA in the `kube-public/cluster-info`
ConfigMap (kubeadm's way), which the agent reads anonymously before it trusts anything.
`tug token create` mints another token (optionally with a TTL) against a running server.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TOKEN_PREFIX = "K10"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
BOOTSTRAP_GROUP = "system:bootstrappers"
# kubeadm's default extra group for node join tokens
DEFAULT_EXTRA_GROUPS = "system:bootstrappers:kubeadm:default-node-token"
MIRROR_ROLE = "tugboat:registry-mirror-reader"
BOOTSTRAP_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_ALPHABET = string.ascii_lowercase + string.digits


class TokenError(ValueError):
    """A join token that is not `K10<ca-hash>::<id>.<secret>`."""


@dataclass(frozen=True)
class JoinToken:
    ca_hash: str  # sha256 hex of the CA certificate PEM
    token_id: str
    token_secret: str

    @property
    def bootstrap_token(self) -> str:
        return f"{self.token_id}.{self.token_secret}"

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.ca_hash}::{self.bootstrap_token}"


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def new_bootstrap_token() -> tuple[str, str]:
    return ("".join(secrets.choice(_ALPHABET) for _ in range(6)),
            "".join(secrets.choice(_ALPHABET) for _ in range(16)))


def parse_join_token(text: str) -> JoinToken:
    text = text.strip()
    if not text.startswith(TOKEN_PREFIX) or "::" not in text:
        raise TokenError("a join token looks like K10<sha256 of the cluster CA>::<id>.<secret> "
                         "(print one with `tug token create` on the server)")
    head, _, creds = text[len(TOKEN_PREFIX):].partition("::")
    if not re.fullmatch(r"[0-9a-f]{64}", head):
        raise TokenError("the CA hash of a join token is 64 lower-case hex digits")
    m = BOOTSTRAP_TOKEN_RE.match(creds)
    if not m:
        raise TokenError("the credential of a join token is <id>.<secret>: [a-z0-9]{6}.[a-z0-9]{16}")
    return JoinToken(head, m.group(1), m.group(2))


def bootstrap_secret(token_id: str, token_secret: str, *, ttl_seconds: float | None = None,
                     extra_groups: str = DEFAULT_EXTRA_GROUPS, description: str = "",
                     now: dt.datetime | None = None) -> dict[str, Any]:
    """The Secret upstream's bootstrap authenticator reads (stringData: the server encodes it)."""
    data = {"token-id": token_id, "token-secret": token_secret, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true"}
    if extra_groups:
        data["auth-extra-groups"] = extra_groups
    if description:
        data["description"] = description
    if ttl_seconds:
        exp = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=ttl_seconds)
        data["expiration"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def cluster_info(server_url: str, ca_pem: bytes) -> dict[str, Any]:
    """kube-public/cluster-info: a kubeconfig with only the cluster (CA + server), as kubeadm."""
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                  "clusters": [{"name": "", "cluster": {"server": server_url,
                                                        "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
                  "contexts": [], "current-context": "", "users": []}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False)}}


def load_or_create_token(data_dir: Path, ca_pem: bytes) -> JoinToken:
    """DATA_DIR/token (mode 0600), created once; a copied token of another HA server is kept."""
    path = data_dir / "token"
    if path.exists():
        with contextlib.suppress(TokenError):
            tok = parse_join_token(path.read_text())
            if tok.ca_hash == ca_hash(ca_pem):
                return tok
    tid, tsecret = new_bootstrap_token()
    tok = JoinToken(ca_hash(ca_pem), tid, tsecret)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(tok) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return tok


async def publish(client: Any, tok: JoinToken, server_url: str, ca_pem: bytes) -> None:
    """Make sure the token's Secret and the cluster-info ConfigMap exist (idempotent; every
    HA server calls it at start)."""
    from tugboat.client import is_already_exists

    sec = bootstrap_secret(tok.token_id, tok.token_secret, description="tug server join token")
    info = cluster_info(server_url, ca_pem)
    for base, obj in (("/api/v1/namespaces/kube-system/secrets", sec),
                      ("/api/v1/namespaces/kube-public/configmaps", info), *join_rbac()):
        try:
            await client.request("POST", base, body=obj)
        except Exception as e:
            if not is_already_exists(e):
                raise


def join_rbac() -> list[tuple[str, dict[str, Any]]]:
    """kubeadm's RBAC for joins (its bootstraptoken phase): anonymous may read cluster-info,
    bootstrap tokens may create CSRs and have node client CSRs auto-approved, nodes may renew."""
    rbac = "rbac.authorization.k8s.io"
    group = {"apiGroup": rbac, "kind": "Group"}

    def crb(name: str, role: str, subject: str) -> tuple[str, dict[str, Any]]:
        return (f"/apis/{rbac}/v1/clusterrolebindings",
                {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                 "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": role},
                 "subjects": [{**group, "name": subject}]})

    name = "kubeadm:bootstrap-signer-clusterinfo"
    return [
        (f"/apis/{rbac}/v1/namespaces/kube-public/roles",
         {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": name, "namespace": "kube-public"},
          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"],
                     "verbs": ["get"]}]}),
        (f"/apis/{rbac}/v1/namespaces/kube-public/rolebindings",
         {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": "kube-public"},
          "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name},
          "subjects": [{"apiGroup": rbac, "kind": "User", "name": "system:anonymous"}]}),
        # Tugboat: nodes read the shared registry's mirror config (tugboat.cli.registry)
        (f"/apis/{rbac}/v1/namespaces/kube-public/roles",
         {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": MIRROR_ROLE, "namespace": "kube-public"},
          "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["tugboat-registries"],
                     "verbs": ["get"]}]}),
        (f"/apis/{rbac}/v1/namespaces/kube-public/rolebindings",
         {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding",
          "metadata": {"name": MIRROR_ROLE, "namespace": "kube-public"},
          "roleRef": {"apiGroup": rbac, "kind": "Role", "name": MIRROR_ROLE},
          "subjects": [{**group, "name": "system:nodes"}]}),
        crb("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", DEFAULT_EXTRA_GROUPS),
        crb("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            DEFAULT_EXTRA_GROUPS),
        crb("kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
    ]


# ---- `tug token` -----------------------------------------------------------------------------

def add_token_parser(sub: Any, default_data_dir: str) -> None:
    t = sub.add_parser("token", help="join tokens for `tug agent --token`")
    tsub = t.add_subparsers(dest="token_cmd", required=True)
    c = tsub.add_parser("create", help="create and print a new join token")
    c.add_argument("--data-dir", default=default_data_dir)
    c.add_argument("--ttl", default="24h", help="lifetime (e.g. 30m, 24h; 0 = never expires; kubeadm: 24h)")
    c.add_argument("--description", default="")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


async def cmd_token(args: argparse.Namespace) -> int:
    from tugboat.client import Client, load_kubeconfig

    data = Path(args.data_dir)
    ca_pem = (data / "tls" / "ca.crt").read_bytes()
    tid, tsecret = new_bootstrap_token()
    async with Client(load_kubeconfig(str(data / "kubeconfig.yaml")), component="tug-token") as client:
        await client.request("POST", "/api/v1/namespaces/kube-system/secrets",
                             body=bootstrap_secret(tid, tsecret, ttl_seconds=parse_duration(args.ttl) or None,
                                                   description=args.description))
    print(JoinToken(ca_hash(ca_pem), tid, tsecret))
    return 0


async def setup_server(data_dir: Path, server_url: str) -> JoinToken:
    """What `tug server` does once it serves: DATA_DIR/token, its Secret, cluster-info; prints
    how to join. Failures are reported, not fatal (the cluster works without joins)."""
    from tugboat.client import Client, load_kubeconfig

    ca_pem = (data_dir / "tls" / "ca.crt").read_bytes()
    tok = load_or_create_token(data_dir, ca_pem)
    try:
        async with Client(load_kubeconfig(str(data_dir / "kubeconfig.yaml")), component="tug-server",
                          max_retries=3) as client:
            await publish(client, tok, server_url, ca_pem)
    except Exception as e:  # noqa: BLE001 - joins will fail; the server itself is fine
        print(f"tug: join token not published: {e}", flush=True)
        return tok
    print(f"tug: join token in {data_dir / 'token'} — on another host: "
          f"tug agent --server {server_url} --token $(cat {data_dir / 'token'})", flush=True)
    return tok
