"""ServiceAccount admission: every pod runs as a service account that exists, and gets the
API-access volume (`kube-api-access-<rand>`) mounted at /var/run/secrets/kubernetes.io/serviceaccount
in every container — exactly upstream's plugin, so in-cluster clients find token, ca.crt and
namespace where client libraries look. The token is a projected serviceAccountToken (3607 s,
which the TokenRequest handler extends and the node agent refreshes), not a legacy Secret.

Not in ApiServer.__init__ by default: in-process test servers have no service-account
controller to create `default`, so the plugin is added where that controller runs (`tug server`).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .registry import Registry, WriteOpts

Obj = dict[str, Any]
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's SimpleNameGenerator alphabet


def token_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def should_automount(sa: Obj, pod: Obj) -> bool:
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_says is not None:
        return bool(pod_says)
    sa_says = sa.get("automountServiceAccountToken")
    return True if sa_says is None else bool(sa_says)


def mount_token(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    volumes = spec.setdefault("volumes", [])
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), "")
    name = existing or VOLUME_PREFIX + "".join(random.choice(_NAME_CHARS) for _ in range(5))
    needs = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.setdefault("volumeMounts", [])
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": name, "readOnly": True, "mountPath": MOUNT_PATH})
            needs = True
    if needs and not existing:
        volumes.append(token_volume(name))
    if not volumes:
        del spec["volumes"]


class ServiceAccountAdmission:
    """Registry admit hook for pod CREATE (upstream plugin/pkg/admission/serviceaccount)."""

    def __init__(self, registry: Registry, *, mount: bool = True, retry_interval: float | None = None):
        self.registry = registry
        self.mount = mount
        self.retry_interval = retry_interval  # None: upstream's random 100–200 ms
        self.sa_type = registry.scheme.get("", "v1", "serviceaccounts")

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if op != "CREATE" or new is None or rt.group != "" or rt.kind != "Pod" or opts.subresource:
            return
        meta, spec = new["metadata"], new.setdefault("spec", {})
        name = meta.get("name") or meta.get("generateName", "")
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            self._check_mirror(name, spec)
            return
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = sa_name
        spec["serviceAccount"] = sa_name
        ns = meta.get("namespace", "")
        sa = await self._service_account(ns, sa_name)
        if sa is None:
            raise _forbidden(name, f"error looking up service account {ns}/{sa_name}: "
                                   f'serviceaccount "{sa_name}" not found')
        if self.mount and should_automount(sa, new):
            mount_token(new)

    async def _service_account(self, ns: str, name: str) -> Obj | None:
        """Upstream retries the `default` account 10 times: the controller may be creating it."""
        assert self.sa_type is not None
        attempts = 10 if name == "default" else 1
        interval = self.retry_interval if self.retry_interval is not None else random.uniform(0.1, 0.2)
        for i in range(attempts):
            if i:
                await asyncio.sleep(interval)
            try:
                return await self.registry.get(self.sa_type, ns, name)
            except ApiError as e:
                if e.code != 404:
                    raise
        return None

    @staticmethod
    def _check_mirror(name: str, spec: Obj) -> None:
        if spec.get("serviceAccountName") or spec.get("serviceAccount"):
            raise _forbidden(name, "a mirror pod may not reference service accounts")
        for v in spec.get("volumes") or []:
            if "secret" in v:
                raise _forbidden(name, "a mirror pod may not reference secrets")
            if any("serviceAccountToken" in s or "secret" in s for s in (v.get("projected") or {}).get("sources") or []):
                raise _forbidden(name, "a mirror pod may not use ServiceAccountToken or Secret volume projections")


def _forbidden(name: str, msg: str) -> ApiError:
    return errors.forbidden_error(f'pods "{name}" is forbidden: {msg}')


def install(registry: Registry) -> ServiceAccountAdmission:
    """Add the plugin where upstream's order puts it: after NamespaceLifecycle and LimitRanger."""
    plugin = ServiceAccountAdmission(registry)
    hooks = registry.admit_hooks
    after = [i for i, h in enumerate(hooks) if type(h).__name__ in ("NamespaceLifecycle", "LimitRanger")]
    hooks.insert(after[-1] + 1 if after else 0, plugin)
    return plugin
