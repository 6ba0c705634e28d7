"""apiextensions.k8s.io/v1 CustomResourceDefinition: upstream 1.32 defaults and basic validation.

What this checks is what the API server needs to serve a CRD at all: the name is
`<plural>.<group>`, names are DNS-1035 labels, scope is known, exactly one version is the
storage version and every served version has an object-typed schema. The full structural
schema rules live in `tugboat.api.crd` (another module); status.storedVersions is maintained
here because upstream's strategy does it on create and update.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, invalid, not_supported, required
from ..strategy import Strategy, register
from ..validation import is_dns1035_label, is_dns1123_subdomain
from .apps_common import immutable
from .core_common import as_dict, as_list

Obj = dict[str, Any]


def _storage_version(spec: Obj) -> str | None:
    for v in as_list(spec.get("versions")):
        if isinstance(v, dict) and v.get("storage"):
            return str(v.get("name"))
    return None


def _record_stored_version(obj: Obj) -> None:
    sv = _storage_version(as_dict(obj.get("spec")))
    if sv is None:
        return
    status = obj.get("status")
    if not isinstance(status, dict):
        status = obj["status"] = {}
    stored = status.get("storedVersions")
    if not isinstance(stored, list):
        stored = status["storedVersions"] = []
    if sv not in stored:
        stored.append(sv)


def _validate_names(names: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    plural, kind = names.get("plural") or "", names.get("kind") or ""
    if not plural:
        errs.append(required(f"{path}.plural"))
    else:
        msgs = is_dns1035_label(str(plural))
        if msgs:
            errs.append(invalid(f"{path}.plural", plural, ",".join(msgs)))
    singular = names.get("singular")
    if singular:
        msgs = is_dns1035_label(str(singular))
        if msgs:
            errs.append(invalid(f"{path}.singular", singular, ",".join(msgs)))
    for f in ("kind", "listKind"):
        v = names.get(f) or ""
        if f == "kind" and not v:
            errs.append(required(f"{path}.kind"))
        elif v:
            msgs = is_dns1035_label(str(v).lower())
            if msgs:
                errs.append(invalid(f"{path}.{f}", v, "may have mixed case, but should otherwise match: "
                                    + ",".join(msgs)))
    if kind and names.get("listKind") == kind:
        errs.append(invalid(f"{path}.listKind", kind, "kind and listKind may not be the same or parsing become ambiguous"))
    for i, sn in enumerate(as_list(names.get("shortNames"))):
        msgs = is_dns1035_label(str(sn))
        if msgs:
            errs.append(invalid(f"{path}.shortNames[{i}]", sn, ",".join(msgs)))
    return errs


def _validate_version(v: Obj, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = v.get("name") or ""
    msgs = is_dns1035_label(str(name))
    if msgs:
        errs.append(invalid(f"{path}.name", name, ",".join(msgs)))
    schema = as_dict(v.get("schema")).get("openAPIV3Schema")
    if schema is None:
        errs.append(required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
    elif not isinstance(schema, dict):
        errs.append(invalid(f"{path}.schema.openAPIV3Schema", schema, "must be an object"))
    else:
        t = schema.get("type")
        if not t:
            errs.append(required(f"{path}.schema.openAPIV3Schema.type", "must not be empty at the root"))
        elif t != "object":
            errs.append(invalid(f"{path}.schema.openAPIV3Schema.type", t, "must be object at the root"))
    return errs


def validate_crd_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    group = spec.get("group") or ""
    if not group:
        errs.append(required("spec.group"))
    else:
        msgs = is_dns1123_subdomain(str(group))
        if msgs:
            errs.append(invalid("spec.group", group, ",".join(msgs)))
        elif len(str(group).split(".")) < 2:
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope") or ""
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    versions = as_list(spec.get("versions"))
    seen: set[Any] = set()
    unique = True
    storage = 0
    for i, v in enumerate(versions):
        v = as_dict(v)
        if v.get("storage"):
            storage += 1
        if v.get("name") in seen:
            unique = False
        seen.add(v.get("name"))
        errs += _validate_version(v, f"spec.versions[{i}]")
    if not unique:
        errs.append(invalid("spec.versions", versions, "must contain unique version names"))
    if storage != 1:
        errs.append(invalid("spec.versions", versions, "must have exactly one version marked as storage version"))
    errs += _validate_names(as_dict(spec.get("names")), "spec.names")
    strategy = as_dict(spec.get("conversion")).get("strategy")
    if strategy is not None and strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"]))
    return errs


class CustomResourceDefinitionStrategy(Strategy):
    group, kind, namespaced, has_status = "apiextensions.k8s.io", "CustomResourceDefinition", False, True

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        _record_stored_version(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        if new.get("status") is not None:
            new["status"] = dict(new["status"])
            new["status"]["storedVersions"] = list(as_dict(new["status"]).get("storedVersions") or [])
        _record_stored_version(new)

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        names = spec.get("names")
        if isinstance(names, dict):
            kind = names.get("kind") or ""
            if not names.get("singular"):
                names["singular"] = str(kind).lower()
            if not names.get("listKind") and kind:
                names["listKind"] = f"{kind}List"
        if spec.get("conversion") is None:
            spec["conversion"] = {"strategy": "None"}

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        name = as_dict(obj.get("metadata")).get("name")
        names = as_dict(spec.get("names"))
        want = f"{names.get('plural', '')}.{spec.get('group', '')}"
        if name and name != want:
            errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
        return errs + validate_crd_spec(spec)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = super().validate_update(new, old)
        errs += immutable(as_dict(new.get("spec")).get("group"), as_dict(old.get("spec")).get("group"), "spec.group")
        return errs


register(CustomResourceDefinitionStrategy())
