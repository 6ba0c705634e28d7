"""PodSecurity admission: enforce/audit/warn the Pod Security Standards per namespace.

Why in the API server: a pod that breaks its namespace's level must never be stored, whatever
created it. Upstream 1.32 (pod-security-admission/admission):
* pods (CREATE, a significant UPDATE, the ephemeralcontainers subresource) are checked against
  the enforce level (403 `violates PodSecurity "restricted:latest": ...`), the warn level (a
  `Warning: would violate PodSecurity ...` header) and the audit level (an audit annotation);
* workload objects with a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
  CronJob, ReplicationController, PodTemplate) are only warned about and audited — enforcing
  happens when their pods are created;
* a namespace write is validated (labels must be well formed) and, when an UPDATE makes its
  enforce level stricter, the existing pods are evaluated and violations returned as warnings;
* exempt usernames, runtime classes and namespaces skip all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from .. import codec
from ..admission_quota import forbidden, obj_name
from ..registry import Registry, WriteOpts
from .policy import PREFIX, LevelVersion, PodSecurityConfig, label_errors, policy_for
from .restricted import evaluate

Obj = dict[str, Any]
_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "deployments"): ("spec", "template"), ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"), ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"), ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
    ("", "replicationcontrollers"): ("spec", "template"), ("", "podtemplates"): ("template",),
}
SECCOMP_ANN = ("seccomp.security.alpha.kubernetes.io/pod", "container.seccomp.security.alpha.kubernetes.io/")


def detail(results: list[tuple[str, str]]) -> str:
    return ", ".join(f"{r} ({d})" if d else r for r, d in results)


def _template(obj: Obj, path: tuple[str, ...]) -> Obj | None:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, dict) else None


def _significant_update(new: Obj, old: Obj) -> bool:
    na = (new.get("metadata") or {}).get("annotations") or {}
    oa = (old.get("metadata") or {}).get("annotations") or {}
    if any(na.get(k) != oa.get(k) for k in set(na) | set(oa) if k.startswith(SECCOMP_ANN)):
        return True
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    for key in ("initContainers", "containers"):
        a, b = ns.get(key) or [], os_.get(key) or []
        if len(a) != len(b) or any(x.get("image") != y.get("image") for x, y in zip(a, b, strict=False)):
            return True
    return False


class PodSecurityAdmission:
    def __init__(self, registry: Registry, config: PodSecurityConfig | None = None):
        self.registry = registry
        self.config = config or PodSecurityConfig()
        self.ns_type = registry.scheme.get("", "v1", "namespaces")
        self.pod_type = registry.scheme.get("", "v1", "pods")
        # Called with (annotation key, value) for audit-level violations; the audit log hooks in.
        self.on_audit: Callable[[str, str], None] | None = None

    async def _ns_labels(self, ns: str) -> dict[str, Any]:
        assert self.ns_type is not None
        kv = await self.registry.backend.get(self.ns_type.key(None, ns))
        if kv is None:
            return {}
        return (codec.decode(kv.value, kv.mod_revision)["metadata"].get("labels") or {})

    def _exempt_user(self, opts: WriteOpts) -> bool:
        return opts.user is not None and opts.user.name in self.config.exempt_usernames

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if new is None or op not in ("CREATE", "UPDATE"):
            return
        if rt.group == "" and rt.kind == "Namespace" and not opts.subresource:
            await self._namespace(op, new, old, opts)
            return
        if rt.group == "" and rt.kind == "Pod":
            if opts.subresource not in ("", "ephemeralcontainers"):
                return
            if op == "UPDATE" and not opts.subresource and old is not None and not _significant_update(new, old):
                return
            await self._check(rt, new, new.get("metadata") or {}, new.get("spec") or {}, opts, enforce=True)
            return
        path = _TEMPLATE_PATHS.get((rt.group, rt.plural))
        if path is None or opts.subresource:
            return
        tmpl = _template(new, path)
        if tmpl is not None:
            await self._check(rt, new, tmpl.get("metadata") or {}, tmpl.get("spec") or {}, opts, enforce=False)

    async def _check(self, rt: ResourceType, obj: Obj, meta: Obj, spec: Obj, opts: WriteOpts, *,
                     enforce: bool) -> None:
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        if ns in self.config.exempt_namespaces or self._exempt_user(opts):
            return
        if spec.get("runtimeClassName") and spec["runtimeClassName"] in self.config.exempt_runtime_classes:
            return
        pol = policy_for(await self._ns_labels(ns), self.config)
        cache: dict[str, list[tuple[str, str]]] = {}

        def results(lv: LevelVersion) -> list[tuple[str, str]]:
            if lv.level not in cache:
                cache[lv.level] = evaluate(lv.level, meta, spec)
            return cache[lv.level]
        if enforce and results(pol["enforce"]):
            raise forbidden(rt, obj_name(obj), f'violates PodSecurity "{pol["enforce"]}": '
                                               f'{detail(results(pol["enforce"]))}')
        if results(pol["audit"]) and self.on_audit is not None:
            self.on_audit("pod-security.kubernetes.io/audit-violations",
                          f'would violate PodSecurity "{pol["audit"]}": {detail(results(pol["audit"]))}')
        if results(pol["warn"]):
            opts.warnings.append(f'would violate PodSecurity "{pol["warn"]}": {detail(results(pol["warn"]))}')

    async def _namespace(self, op: str, new: Obj, old: Obj | None, opts: WriteOpts) -> None:
        labels = (new.get("metadata") or {}).get("labels") or {}
        errs = label_errors(labels)
        if errs:
            raise errors.invalid_object("", "Namespace", obj_name(new), [
                errors.invalid(f"metadata.labels[{k}]", v, d) for k, v, d in errs])
        if op != "UPDATE" or old is None or self.pod_type is None:
            return
        name = new["metadata"].get("name", "")
        if name in self.config.exempt_namespaces:
            return
        new_enf = policy_for(labels, self.config)["enforce"]
        old_enf = policy_for((old.get("metadata") or {}).get("labels"), self.config)["enforce"]
        if new_enf == old_enf or new_enf.level == "privileged" or labels.get(PREFIX + "enforce") is None:
            return
        res = await self.registry.backend.list(self.pod_type.namespace_prefix(name))
        groups: dict[str, list[str]] = {}
        for kv in res.items:
            pod = codec.decode(kv.value, kv.mod_revision)
            spec = pod.get("spec") or {}
            if spec.get("runtimeClassName") and spec["runtimeClassName"] in self.config.exempt_runtime_classes:
                continue
            found = evaluate(new_enf.level, pod["metadata"], spec)
            if found:
                groups.setdefault(", ".join(r for r, _ in found), []).append(pod["metadata"]["name"])
        if not groups:
            return
        opts.warnings.append(f'existing pods in namespace "{name}" violate the new PodSecurity enforce level '
                             f'"{new_enf}"')
        for reasons, pods in groups.items():
            pods.sort()
            if len(pods) == 1:
                opts.warnings.append(f"{pods[0]}: {reasons}")
            else:
                n = len(pods) - 1
                opts.warnings.append(f"{pods[0]} (and {n} other {'pod' if n == 1 else 'pods'}): {reasons}")
