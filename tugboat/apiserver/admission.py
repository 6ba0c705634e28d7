"""Admission plugins run by the registry on every write (after validation, before storage).

The chain is a list of async hooks `(operation, rt, new, old, opts)`; mutating plugins come
first, then validating ones. NamespaceLifecycle is the first plugin: no content in a missing
or terminating namespace, and the system namespaces are immortal.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from . import codec
from .registry import Registry, WriteOpts

Obj = dict[str, Any]
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class NamespaceLifecycle:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.ns_type = registry.scheme.get("", "v1", "namespaces")

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group == "" and rt.kind == "Namespace":
            if op == "CREATE" and new is not None:
                spec = new.setdefault("spec", {})
                spec.setdefault("finalizers", ["kubernetes"])
                new.setdefault("status", {})["phase"] = "Active"
            if op == "DELETE" and old is not None and old["metadata"].get("name") in SYSTEM_NAMESPACES:
                raise errors.forbidden_error(f'namespaces "{old["metadata"]["name"]}" is forbidden: '
                                             "this namespace may not be deleted")
            return
        if op != "CREATE" or not rt.namespaced or new is None or self.ns_type is None:
            return
        ns = new["metadata"].get("namespace", "")
        kv = await self.registry.backend.get(self.ns_type.key(None, ns))
        if kv is None:
            raise errors.not_found("", "namespaces", ns)
        nso = codec.decode(kv.value, kv.mod_revision)
        if nso["metadata"].get("deletionTimestamp") or (nso.get("status") or {}).get("phase") == "Terminating":
            name = new["metadata"].get("name") or new["metadata"].get("generateName", "")
            msg = f"unable to create new content in namespace {ns} because it is being terminated"
            raise ApiError(403, "Forbidden", f'{errors.qualified(rt.plural, rt.group)} "{name}" is forbidden: {msg}',
                           {"name": name, "kind": rt.plural, **({"group": rt.group} if rt.group else {}),
                            "causes": [{"reason": "NamespaceTerminating", "message": msg,
                                        "field": "metadata.namespace"}]})
