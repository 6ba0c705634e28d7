"""Registry configuration in the format of k3s's `registries.yaml`.

    mirrors:
      docker.io:
        endpoint: ["http://127.0.0.1:5000"]
        rewrite: {"^library/(.*)": "mirror/$1"}
      "*": {endpoint: [...]}           # every registry without its own entry
    configs:
      "127.0.0.1:5000":
        auth: {username: u, password: p}   # or auth: base64(u:p), identity_token, token
        tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: false}

A pull tries the mirror endpoints in order, then the registry's own default endpoint, as
containerd does for k3s. Rewrites only apply on mirror endpoints. `configs` is keyed by the
host[:port] of the endpoint actually spoken to. Loopback registries default to plain HTTP.
"""

from __future__ import annotations

import base64
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tugboat.node.images.reference import DOCKER_HUB, is_local_host

DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"


@dataclass
class Endpoint:
    url: str  # scheme://host[:port][/prefix] — requests go to url + "/v2/…"
    host: str  # host[:port], the key into `configs`
    mirror: bool = False
    rewrites: list[tuple[re.Pattern[str], str]] = field(default_factory=list)

    def repository(self, path: str) -> str:
        """The repository path to request on this endpoint (rewrites applied, first match wins)."""
        for pattern, repl in self.rewrites:
            if pattern.search(path):
                return pattern.sub(repl, path, count=1)
        return path


@dataclass
class HostConfig:
    auth: dict[str, str] = field(default_factory=dict)
    tls: dict[str, Any] = field(default_factory=dict)


def _go_replacement(repl: str) -> str:
    """Go regexp replacement syntax ($1, ${1}, ${name}) → Python's (\\g<1>)."""
    repl = repl.replace("\\", "\\\\")
    return re.sub(r"\$\{(\w+)\}|\$(\d+)", lambda m: f"\\g<{m.group(1) or m.group(2)}>", repl)


def _endpoint(url: str, mirror: bool, rewrites: list[tuple[re.Pattern[str], str]]) -> Endpoint:
    if "://" not in url:
        url = ("http://" if is_local_host(url.split("/")[0]) else "https://") + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return Endpoint(f"{parts.scheme}://{parts.netloc}{path}", parts.netloc, mirror, rewrites)


class RegistryConfig:
    def __init__(self, data: dict[str, Any] | None = None):
        data = data or {}
        self.mirrors: dict[str, list[Endpoint]] = {}
        for host, m in (data.get("mirrors") or {}).items():
            m = m or {}
            rewrites = [(re.compile(k), _go_replacement(v)) for k, v in (m.get("rewrite") or {}).items()]
            self.mirrors[host] = [_endpoint(u, True, rewrites) for u in (m.get("endpoint") or [])]
        self.configs: dict[str, HostConfig] = {}
        for host, c in (data.get("configs") or {}).items():
            c = c or {}
            self.configs[host] = HostConfig(dict(c.get("auth") or {}), dict(c.get("tls") or {}))
        self._ssl: dict[str, ssl.SSLContext] = {}

    @classmethod
    def load(cls, path: str | Path | None) -> RegistryConfig:
        if not path:
            return cls()
        p = Path(path)
        if not p.exists():
            return cls()
        return cls(yaml.safe_load(p.read_text()) or {})

    def default_endpoint(self, domain: str) -> Endpoint:
        if domain == DOCKER_HUB:
            return _endpoint(DOCKER_HUB_ENDPOINT, False, [])
        return _endpoint(domain, False, [])

    def endpoints(self, domain: str) -> list[Endpoint]:
        """Mirror endpoints in order, then the default one (unless a mirror already is it)."""
        eps = list(self.mirrors.get(domain, self.mirrors.get("*", [])))
        default = self.default_endpoint(domain)
        if not any(e.url == default.url for e in eps):
            eps.append(default)
        return eps

    def host_config(self, host: str) -> HostConfig:
        return self.configs.get(host) or self.configs.get("*") or HostConfig()

    def credentials(self, host: str) -> dict[str, str] | None:
        auth = self.host_config(host).auth
        return normalise_credentials(auth) if auth else None

    def ssl_context(self, host: str) -> ssl.SSLContext | None:
        """None = the default verification; a context when `tls` is configured for the host."""
        tls = self.host_config(host).tls
        if not tls:
            return None
        if host not in self._ssl:
            ctx = ssl.create_default_context(cafile=tls.get("ca_file") or None)
            if tls.get("cert_file"):
                ctx.load_cert_chain(tls["cert_file"], tls.get("key_file") or None)
            if tls.get("insecure_skip_verify"):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[host] = ctx
        return self._ssl[host]


def normalise_credentials(auth: dict[str, str]) -> dict[str, str]:
    """Accept k3s (`identity_token`), docker config (`identitytoken`, `auth`) and CRI
    (`registrytoken`) spellings; return {"username","password"} and/or a token key."""
    out: dict[str, str] = {}
    if auth.get("auth") and not auth.get("username"):
        user, _, pw = base64.b64decode(auth["auth"]).decode().partition(":")
        out["username"], out["password"] = user, pw
    if auth.get("username"):
        out["username"], out["password"] = auth["username"], auth.get("password", "")
    token = auth.get("identity_token") or auth.get("identitytoken")
    if token:
        out["identity_token"] = token
    reg = auth.get("token") or auth.get("registrytoken") or auth.get("registry_token")
    if reg:
        out["registry_token"] = reg
    return out
