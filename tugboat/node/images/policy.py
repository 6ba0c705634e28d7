"""What the node agent needs around `ImageService.pull`: imagePullPolicy semantics and picking
credentials for an image out of the pod's imagePullSecrets, as the kubelet does them.

Policies (kubelet's): Always → always ask the registry (cheap when nothing changed: one
manifest GET); IfNotPresent → pull only when missing; Never → use what is there or fail with
ErrImageNeverPull. Credentials: every `.dockerconfigjson` / `.dockercfg` entry whose key
matches the image (host, with `*` globs per DNS label, and a path prefix) is a candidate, the
most specific first; each is tried in turn, then an anonymous pull.
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Iterable
from typing import Any

import orjson

from tugboat.node.images.base import ImageConfig, ImageService, PullError
from tugboat.node.images.reference import parse

_HUB_KEYS = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


def default_policy(image: str) -> str:
    """Kubernetes' default: Always for `:latest` (or no tag), else IfNotPresent."""
    ref = parse(image)
    return "Always" if ref.tag == "latest" and not ref.digest else "IfNotPresent"


async def ensure_image(svc: ImageService, image: str, policy: str = "",
                       auths: Iterable[dict[str, str]] = ()) -> tuple[ImageConfig, bool]:
    """Returns (image, pulled_now). Raises PullError: reason ErrImageNeverPull, ErrImagePull
    or InvalidImageName. Event wording for the agent: Pulling `Pulling image "%s"`, Pulled
    `Successfully pulled image "%s" in …` or `Container image "%s" already present on machine`."""
    policy = policy or default_policy(image)
    if policy != "Always":
        have = await svc.status(image)
        if have is not None:
            return have, False
        if policy == "Never":
            raise PullError(f'Container image "{image}" is not present with pull policy of Never',
                            reason="ErrImageNeverPull")
    errors: list[PullError] = []
    for auth in [*auths, None]:
        try:
            return await svc.pull(image, auth=auth), True
        except PullError as e:
            if e.reason != "ErrImagePull":
                raise
            errors.append(e)
    raise errors[0]  # the most specific credentials' failure says most


def _key(key: str) -> tuple[str, str]:
    k = key.split("://", 1)[-1].rstrip("/")
    for suffix in ("/v1", "/v2"):
        if k.endswith(suffix):
            k = k[: -len(suffix)]
    host, _, path = k.partition("/")
    if host in _HUB_KEYS:
        host = "docker.io"
    return host, path


def _host_matches(pattern: str, host: str) -> bool:
    pp, hp = pattern.split(":", 1) + [""], host.split(":", 1) + [""]
    if pp[1] != hp[1]:
        return False
    pl, hl = pp[0].split("."), hp[0].split(".")
    return len(pl) == len(hl) and all(fnmatch.fnmatchcase(h, p) for p, h in zip(pl, hl, strict=True))


def credentials_for(image: str, secrets: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Candidate credentials from Secrets (kubernetes.io/dockerconfigjson or dockercfg, as API
    objects with base64 `data`), most specific key first."""
    ref = parse(image)
    found: list[tuple[int, dict[str, str]]] = []
    for secret in secrets:
        data = secret.get("data") or {}
        raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
        if not raw:
            continue
        try:
            doc = orjson.loads(base64.b64decode(raw))
        except (ValueError, orjson.JSONDecodeError):
            continue
        entries = doc.get("auths", doc) if isinstance(doc, dict) else {}
        for key, entry in (entries or {}).items():
            if not isinstance(entry, dict):
                continue
            host, path = _key(key)
            if not _host_matches(host, ref.domain):
                continue
            if path and not (ref.path == path or ref.path.startswith(path + "/")):
                continue
            cred = {k: v for k, v in entry.items() if k in ("username", "password", "auth", "identitytoken",
                                                             "registrytoken") and isinstance(v, str) and v}
            if cred:
                found.append((len(key), cred))
    found.sort(key=lambda t: -t[0])
    return [c for _, c in found]
