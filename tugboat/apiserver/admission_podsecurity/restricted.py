"""The restricted-level Pod Security checks and the per-level check lists.

`evaluate(level, meta, spec)` returns the failed (reason, detail) pairs in upstream's order:
for baseline the non-overlapping baseline checks then the two baseline checks that restricted
replaces (capabilities, seccomp); for restricted the baseline checks then the restricted ones.
"""

from __future__ import annotations

from typing import Any

from .checks import (
    ALLOWED_VOLUMES,
    Check,
    Obj,
    Result,
    _named,
    _sc,
    _valid_seccomp,
    _windows,
    app_armor,
    capabilities_baseline,
    containers,
    host_namespaces,
    host_path_volumes,
    host_ports,
    host_process,
    join_quote,
    plural,
    privileged,
    proc_mount,
    se_linux,
    seccomp_baseline,
    sysctls,
)


def allow_privilege_escalation(meta: Obj, spec: Obj) -> Result:
    if _windows(spec):
        return None
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return "allowPrivilegeEscalation != false", \
            f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false"
    return None


def capabilities_restricted(meta: Obj, spec: Obj) -> Result:
    if _windows(spec):
        return None
    missing: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        cap = _sc(c).get("capabilities")
        if not isinstance(cap, dict):
            missing.append(c.get("name", ""))
            continue
        if "ALL" not in (cap.get("drop") or []):
            missing.append(c.get("name", ""))
        extra = [str(x) for x in cap.get("add") or [] if x != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            caps.update(extra)
    details = []
    if missing:
        details.append(f'{_named("container", missing)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named('container', adding)} must not include {join_quote(sorted(caps))} in "
                       "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def restricted_volumes(meta: Obj, spec: Obj) -> Result:
    names: list[str] = []
    types: set[str] = set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict) or any(k in v for k in ALLOWED_VOLUMES):
            continue
        names.append(v.get("name", ""))
        types.update(k for k in v if k != "name")
    if names:
        return "restricted volume types", (
            f"{_named('volume', names)} {plural('uses', 'use', len(names))} "
            f"{plural('restricted volume type', 'restricted volume types', len(types))} {join_quote(sorted(types))}")
    return None


def _explicit_or_implicit(spec: Obj, field: str, bad: Any, pod_ok: Any) -> tuple[list[str], list[str], bool]:
    """(setters that set a bad value, containers relying on an unset pod value, pod set it well)."""
    setters: list[str] = []
    pod_v = _sc(spec).get(field)
    pod_good = False
    if pod_v is not None:
        if bad(pod_v):
            setters.append("pod")
        else:
            pod_good = pod_ok(pod_v)
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        v = _sc(c).get(field)
        if v is not None:
            if bad(v):
                explicit.append(c.get("name", ""))
        elif not pod_good:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(_named("container", explicit))
    return setters, implicit, pod_good


def run_as_non_root(meta: Obj, spec: Obj) -> Result:
    setters, implicit, _ = _explicit_or_implicit(spec, "runAsNonRoot", lambda v: v is False, lambda v: v is True)
    if setters:
        return "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return "runAsNonRoot != true", f"pod or {_named('container', implicit)} must set " \
                                       "securityContext.runAsNonRoot=true"
    return None


def run_as_user(meta: Obj, spec: Obj) -> Result:
    setters = ["pod"] if _sc(spec).get("runAsUser") == 0 else []
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        setters.append(_named("container", bad))
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def seccomp_restricted(meta: Obj, spec: Obj) -> Result:
    if _windows(spec):
        return None
    values: set[str] = set()

    def bad(p: Any) -> bool:
        if isinstance(p, dict) and not _valid_seccomp(p.get("type")):
            values.add(str(p.get("type") or ""))
            return True
        return False
    setters, implicit, _ = _explicit_or_implicit(spec, "seccompProfile", bad, lambda _v: True)
    if setters:
        return "seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to " \
                                 f"{join_quote(sorted(values))}"
    if implicit:
        return "seccompProfile", f'pod or {_named("container", implicit)} must set securityContext.seccompProfile.type ' \
                                 'to "RuntimeDefault" or "Localhost"'
    return None


# Upstream registration order (file names, alphabetical), split as its registry splits them.
BASELINE: list[Check] = [app_armor, host_namespaces, host_path_volumes, host_ports, privileged, proc_mount,
                         se_linux, sysctls, host_process]
OVERLAPPING: list[Check] = [capabilities_baseline, seccomp_baseline]
RESTRICTED: list[Check] = [allow_privilege_escalation, capabilities_restricted, restricted_volumes,
                           run_as_non_root, run_as_user, seccomp_restricted]


def evaluate(level: str, meta: Obj, spec: Obj) -> list[tuple[str, str]]:
    if level == "privileged":
        return []
    checks = BASELINE + (OVERLAPPING if level == "baseline" else RESTRICTED)
    return [r for r in (c(meta, spec) for c in checks) if r is not None]
