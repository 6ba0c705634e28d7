"""Where the API server is and how to prove who we are: kubeconfig and in-cluster config.

Every Tugboat component other than the apiserver reaches the API the way a Kubernetes client
does, so the same binary works in-process, on a joined node (kubeconfig) or in a pod
(service-account token). Semantics follow client-go's clientcmd / rest.InClusterConfig:
relative file paths resolve against the kubeconfig's directory, `*-data` fields are base64,
`tokenFile` is re-read (bound tokens rotate), and `KUBECONFIG` may list several files (the
first one that exists is used; merging is not implemented).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_TOKEN_REREAD_SECONDS = 60.0


class ConfigError(Exception):
    """The kubeconfig or in-cluster environment is missing or malformed."""


@dataclass
class Config:
    server: str
    namespace: str = "default"
    ca_data: bytes | None = None  # PEM
    ca_file: str | None = None
    cert_data: bytes | None = None  # PEM
    cert_file: str | None = None
    key_data: bytes | None = None  # PEM
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    # Every API server of an HA control plane (`tug agent --server` repeated): on a connection
    # error the client moves `server` on to the next one (failover()).
    servers: tuple[str, ...] = ()
    _token_cache: tuple[float, str] | None = None

    def failover(self) -> bool:
        """Point `server` at the next of `servers`; False when there is no other server."""
        ring = list(dict.fromkeys(s.rstrip("/") for s in self.servers))
        if self.server not in ring:
            ring.insert(0, self.server)
        if len(ring) < 2:
            return False
        self.server = ring[(ring.index(self.server) + 1) % len(ring)]
        return True

    def bearer_token(self) -> str | None:
        """The token to send; a `token_file` is re-read at most once a minute."""
        if self.token_file:
            now = time.monotonic()
            if self._token_cache is None or now - self._token_cache[0] > _TOKEN_REREAD_SECONDS:
                try:
                    tok = Path(self.token_file).read_text().strip()
                except OSError:
                    tok = self._token_cache[1] if self._token_cache else ""
                self._token_cache = (now, tok)
            return self._token_cache[1] or self.token
        return self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSLContext for https servers (None for http)."""
        if not self.server.startswith("https://"):
            return None
        if self.insecure_skip_tls_verify or not (self.ca_data or self.ca_file):
            # (the system roots only when needed: loading them costs every process ≈ 2 MB)
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data or self.ca_file:
            # A cluster CA replaces the system roots, as in client-go.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            if self.ca_data:
                ctx.load_verify_locations(cadata=self.ca_data.decode())
            if self.ca_file:
                ctx.load_verify_locations(cafile=self.ca_file)
        if self.cert_data or self.cert_file:
            _load_client_cert(ctx, self)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, cfg: Config) -> None:
    if cfg.cert_file and not cfg.cert_data and (cfg.key_file and not cfg.key_data):
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        return
    # ssl only loads certificates from files: write inline data to a private temp file.
    cert = cfg.cert_data or Path(cfg.cert_file or "").read_bytes()
    key = cfg.key_data or (Path(cfg.key_file).read_bytes() if cfg.key_file else b"")
    if not key:
        raise ConfigError("client certificate given without a client key")
    fd, path = tempfile.mkstemp(prefix="tugboat-client-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cert.rstrip(b"\n") + b"\n" + key)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{what}: invalid base64: {e}") from e


def _named(entries: Any, name: str, field: str) -> dict[str, Any]:
    for e in entries or []:
        if isinstance(e, dict) and e.get("name") == name:
            return dict(e.get(field) or {})
    raise ConfigError(f"{field} {name!r} not found in kubeconfig")


def default_kubeconfig_path() -> str:
    env = os.environ.get("KUBECONFIG")
    if env:
        parts = [p for p in env.split(os.pathsep) if p]
        for p in parts:
            if os.path.exists(p):
                return p
        if parts:
            return parts[0]
    return str(Path.home() / ".kube" / "config")


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> Config:
    """Read a kubeconfig file and resolve its current (or the named) context."""
    p = Path(path or default_kubeconfig_path())
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {p}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid kubeconfig {p}: {e}") from e
    return config_from_dict(doc, context=context, base_dir=p.parent)


def config_from_dict(doc: dict[str, Any], context: str | None = None, base_dir: Path | None = None) -> Config:
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError("kubeconfig has no current-context")
    ctx = _named(doc.get("contexts"), ctx_name, "context")
    cluster = _named(doc.get("clusters"), ctx.get("cluster", ""), "cluster")
    user = _named(doc.get("users"), ctx["user"], "user") if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"cluster {ctx.get('cluster')!r} has no server")
    base = base_dir or Path.cwd()

    def path_of(key: str, d: dict[str, Any]) -> str | None:
        v = d.get(key)
        return str(base / v) if v else None

    cfg = Config(
        server=str(server).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        ca_file=path_of("certificate-authority", cluster),
        cert_file=path_of("client-certificate", user),
        key_file=path_of("client-key", user),
        token=user.get("token"),
        token_file=path_of("tokenFile", user),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
    )
    if cluster.get("certificate-authority-data"):
        cfg.ca_data, cfg.ca_file = _b64(cluster["certificate-authority-data"], "certificate-authority-data"), None
    if user.get("client-certificate-data"):
        cfg.cert_data = _b64(user["client-certificate-data"], "client-certificate-data")
    if user.get("client-key-data"):
        cfg.key_data = _b64(user["client-key-data"], "client-key-data")
    return cfg


def load_incluster(env: dict[str, str] | None = None, sa_dir: str = SA_DIR) -> Config:
    """rest.InClusterConfig: KUBERNETES_SERVICE_HOST/PORT plus the mounted service account."""
    env = dict(os.environ) if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT must be defined")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_file = os.path.join(sa_dir, "token")
    if not os.path.exists(token_file):
        raise ConfigError(f"open {token_file}: no such file or directory")
    ns_file = Path(sa_dir, "namespace")
    namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    ca = os.path.join(sa_dir, "ca.crt")
    return Config(server=f"https://{host}:{port}", namespace=namespace or "default", token_file=token_file,
                  ca_file=ca if os.path.exists(ca) else None)


def load_default(path: str | None = None, context: str | None = None) -> Config:
    """Explicit path or $KUBECONFIG first, then in-cluster, then ~/.kube/config."""
    if path or os.environ.get("KUBECONFIG"):
        return load_kubeconfig(path, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_incluster()
    return load_kubeconfig(None, context)
