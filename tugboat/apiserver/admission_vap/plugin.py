"""The ValidatingAdmissionPolicy plugin: CEL validations bound to resources by bindings.

Why: most custom policy ("replicas ≤ 5", "images from our registry") needs no webhook server.
Upstream 1.32 (apiserver/pkg/admission/plugin/policy/validating): for each
ValidatingAdmissionPolicyBinding whose policy exists, a request is checked when it matches the
policy's matchConstraints and the binding's matchResources (rules, excludeResourceRules,
resourceNames, namespaceSelector, objectSelector) and the policy's matchConditions. Each
validation expression sees `object`, `oldObject`, `request`, `params`, `namespaceObject` and
`variables`. A false result is reported per the binding's validationActions: Deny (error
`ValidatingAdmissionPolicy 'p' with binding 'b' denied request: <message>`, code from the
validation's reason, default Invalid/422), Warn (a Warning header), Audit (an audit annotation,
via `on_audit`). An expression error follows failurePolicy (Fail: deny, Ignore: skip).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .. import codec
from ..admission_webhooks import match
from ..admission_webhooks.review import build_request
from ..registry import Registry, WriteOpts
from . import cel

Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io"
_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


def _matches(mr: Obj | None, op: str, rt: ResourceType, sub: str, obj: Obj, new: Obj | None, old: Obj | None,
             ns_labels: dict[str, Any] | None) -> bool:
    if not mr:
        return True
    name = (obj.get("metadata") or {}).get("name", "")
    rules = [r for r in mr.get("resourceRules") or [] if isinstance(r, dict)]
    if rules:
        hit = [r for r in rules if match.rule_matches(r, op, rt, sub)]
        if not hit or not any(not r.get("resourceNames") or name in r["resourceNames"] for r in hit):
            return False
    for r in mr.get("excludeResourceRules") or []:
        if isinstance(r, dict) and match.rule_matches(r, op, rt, sub) and \
                (not r.get("resourceNames") or name in r["resourceNames"]):
            return False
    if ns_labels is not None and not match.selector_matches(mr.get("namespaceSelector"), ns_labels):
        return False
    return match.object_selected(mr.get("objectSelector"), new, old)


class ValidatingAdmissionPolicyPlugin:
    def __init__(self, registry: Registry):
        self.registry = registry
        s = registry.scheme
        self.pol_type = s.get(GROUP, "v1", "validatingadmissionpolicies")
        self.bind_type = s.get(GROUP, "v1", "validatingadmissionpolicybindings")
        self.ns_type = s.get("", "v1", "namespaces")
        self.on_audit: Callable[[str, str], None] | None = None

    async def _list(self, rt: ResourceType) -> list[Obj]:
        res = await self.registry.backend.list(rt.key_prefix)
        return [codec.decode(kv.value, kv.mod_revision) for kv in res.items]

    async def _get(self, rt: ResourceType, ns: str | None, name: str) -> Obj | None:
        kv = await self.registry.backend.get(rt.key(ns, name))
        return codec.decode(kv.value, kv.mod_revision) if kv else None

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group == GROUP and rt.kind == "ValidatingAdmissionPolicy" and new is not None and not opts.subresource:
            self._compile_all(new)
            return
        if rt.group == GROUP or self.pol_type is None or self.bind_type is None or self.ns_type is None:
            return
        if op not in ("CREATE", "UPDATE", "DELETE"):
            return
        bindings = await self._list(self.bind_type)
        if not bindings:
            return
        policies = {p["metadata"]["name"]: p for p in await self._list(self.pol_type)}
        obj = new if new is not None else old or {}
        ns_obj: Obj | None = None
        if rt.namespaced:
            ns_obj = await self._get(self.ns_type, None, (obj.get("metadata") or {}).get("namespace", "")) or {}
        elif rt.group == "" and rt.kind == "Namespace":
            ns_obj = obj
        ns_labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {} if ns_obj is not None else None
        request = build_request(op, rt, new, old, opts)
        for b in sorted(bindings, key=lambda x: x["metadata"]["name"]):
            spec = b.get("spec") or {}
            pol = policies.get(spec.get("policyName", ""))
            if pol is None:
                continue
            pspec = pol.get("spec") or {}
            if not _matches(pspec.get("matchConstraints"), op, rt, opts.subresource, obj, new, old, ns_labels):
                continue
            if not _matches(spec.get("matchResources"), op, rt, opts.subresource, obj, new, old, ns_labels):
                continue
            await self._evaluate(pol, b, rt, new, old, request, ns_obj, opts)

    @staticmethod
    def _compile_all(pol: Obj) -> None:
        """Refuse a policy whose CEL does not compile (upstream: 422 on the expression's field)."""
        spec = pol.get("spec") or {}
        errs = []
        for key, fields in (("validations", ("expression", "messageExpression")), ("matchConditions", ("expression",)),
                            ("variables", ("expression",)), ("auditAnnotations", ("valueExpression",))):
            for i, item in enumerate(spec.get(key) or []):
                for f in fields:
                    expr = item.get(f) if isinstance(item, dict) else None
                    if expr and (bad := cel.compile_check(str(expr))):
                        errs.append(errors.invalid(f"spec.{key}[{i}].{f}", expr, bad))
        if errs:
            raise errors.invalid_object(GROUP, "ValidatingAdmissionPolicy", pol["metadata"].get("name", ""), errs)

    async def _params(self, pol: Obj, b: Obj, obj: Obj) -> tuple[bool, Any]:
        """(proceed, params)."""
        pk = (pol.get("spec") or {}).get("paramKind")
        ref = (b.get("spec") or {}).get("paramRef")
        if not pk or not ref:
            return True, None
        group, _, version = str(pk.get("apiVersion", "")).rpartition("/")
        ptype = self.registry.scheme.by_kind(group, version, pk.get("kind", ""))
        found = None
        if ptype is not None and ref.get("name"):
            ns = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace") if ptype.namespaced else None
            found = await self._get(ptype, ns, ref["name"])
        if found is None:
            return ref.get("parameterNotFoundAction") != "Deny", None
        return True, found

    async def _evaluate(self, pol: Obj, b: Obj, rt: ResourceType, new: Obj | None, old: Obj | None, request: Obj,
                        ns_obj: Obj | None, opts: WriteOpts) -> None:
        pname, bname = pol["metadata"]["name"], b["metadata"]["name"]
        pspec = pol.get("spec") or {}
        actions = (b.get("spec") or {}).get("validationActions") or ["Deny"]
        fail = pspec.get("failurePolicy", "Fail") != "Ignore"
        prefix = f"ValidatingAdmissionPolicy '{pname}' with binding '{bname}'"
        ok, params = await self._params(pol, b, new if new is not None else old or {})
        if not ok:
            self._report(actions, prefix, "failed to configure binding: no params found for policy binding with "
                                          "Deny parameterNotFoundAction", 403, "Forbidden", opts)
            return
        act: Obj = {"object": new, "oldObject": old, "request": request, "params": params,
                    "namespaceObject": ns_obj}
        try:
            variables: Obj = {}
            for v in pspec.get("variables") or []:
                variables[v.get("name", "")] = cel.evaluate(str(v.get("expression", "")), {**act,
                                                                                          "variables": variables})
            act["variables"] = variables
            matched, err = match.conditions_match(pspec.get("matchConditions") or [], act)
            if err:
                raise cel.CelError(err)
            if not matched:
                return
            for v in pspec.get("validations") or []:
                expr = str(v.get("expression", ""))
                if cel.evaluate(expr, act) is True:
                    continue
                msg = v.get("message") or ""
                if v.get("messageExpression"):
                    try:
                        m = cel.evaluate(str(v["messageExpression"]), act)
                        msg = m if isinstance(m, str) and m.strip() else msg
                    except cel.CelError:
                        pass
                msg = msg or f"failed expression: {expr}"
                reason = v.get("reason") or "Invalid"
                self._report(actions, prefix, msg, _CODES.get(reason, 422), reason, opts)
        except cel.CelError as e:
            if fail:
                self._report(actions, prefix, f"expression failed: {e}", 403, "Forbidden", opts)

    def _report(self, actions: list[str], prefix: str, msg: str, code: int, reason: str, opts: WriteOpts) -> None:
        if "Warn" in actions:
            opts.warnings.append(f"Validation failed for {prefix[0].upper() + prefix[1:]}: {msg}")
        if "Audit" in actions and self.on_audit is not None:
            self.on_audit("validation.policy.admission.k8s.io/validation_failure", f"{prefix}: {msg}")
        if "Deny" in actions:
            raise ApiError(code, reason, f"{prefix} denied request: {msg}")
