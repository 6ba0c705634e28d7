"""ResourceQuota usage evaluation: what one object costs against a quota (pure functions).

Why here and pure: the ResourceQuota admission plugin (charging a new object) and the resource
quota controller (recomputing `status.used` from what exists) must agree exactly on the usage
of an object, or the two would fight. Upstream 1.32 pkg/quota/v1/evaluator/core:
* every object costs `count/<resource>[.<group>]`; pods, services, configmaps, secrets,
  replicationcontrollers, resourcequotas and persistentvolumeclaims also cost their legacy name;
* a pod costs `pods`, `cpu`/`requests.cpu`, `memory`/`requests.memory`, `limits.*`,
  `requests.ephemeral-storage`, hugepages and extended resources — unless it is terminal
  (Succeeded/Failed), then only `count/pods`. The pod total is max(sum of containers, each init
  container) plus overhead, as the scheduler computes it;
* a service costs `services.nodeports` / `services.loadbalancers`;
* a PVC costs `requests.storage` and the per-StorageClass variants;
* quota scopes (Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass) apply to
  pods only: a scoped quota never matches other objects.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .quantity import DECIMAL_SI, Quantity

Obj = dict[str, Any]
Usage = dict[str, Quantity]
ONE = Quantity(Decimal(1), DECIMAL_SI)
LEGACY_COUNT = {"pods", "services", "configmaps", "secrets", "replicationcontrollers", "resourcequotas",
                "persistentvolumeclaims"}
# Resources a pod's containers must state when a quota constrains them (upstream validationSet).
POD_REQUIRED = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_POD_COMPUTE_PREFIXES = ("requests.", "limits.")
_NATIVE = ("cpu", "memory", "ephemeral-storage", "storage", "pods")
SC_SUFFIX = ".storageclass.storage.k8s.io/"


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}" + (f".{group}" if group else "")


def q(v: Any) -> Quantity:
    try:
        return Quantity.parse(str(v))
    except ValueError:
        return Quantity(Decimal(0), DECIMAL_SI)


def add(a: Usage, b: Usage) -> Usage:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] + v if k in out else v
    return out


def subtract(a: Usage, b: Usage) -> Usage:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] - v if k in out else -v
    return out


def parse_list(rl: Any) -> Usage:
    return {k: q(v) for k, v in rl.items()} if isinstance(rl, dict) else {}


def to_list(u: Usage) -> dict[str, str]:
    return {k: v.canonical() for k, v in sorted(u.items())}


def pretty(u: Usage) -> str:
    """upstream prettyPrint: sorted `name=value` joined by commas."""
    return ",".join(f"{k}={v.canonical()}" for k, v in sorted(u.items()))


# ---- pods --------------------------------------------------------------------------------
def _rl(c: Any, which: str) -> Usage:
    res = c.get("resources") if isinstance(c, dict) else None
    return parse_list(res.get(which)) if isinstance(res, dict) else {}


def _pod_total(spec: Obj, which: str) -> Usage:
    total: Usage = {}
    for c in spec.get("containers") or []:
        total = add(total, _rl(c, which))
    sidecars: Usage = {}
    for ic in spec.get("initContainers") or []:
        r = _rl(ic, which)
        if isinstance(ic, dict) and ic.get("restartPolicy") == "Always":
            sidecars = add(sidecars, r)
            total = add(total, r)
            continue
        with_sidecars = add(r, sidecars)
        for k, v in with_sidecars.items():
            if k not in total or total[k] < v:
                total[k] = v
    return add(total, parse_list(spec.get("overhead")))


def _is_native(name: str) -> bool:
    return name in _NATIVE or name.startswith("hugepages-") or "/" not in name or \
        name.split("/", 1)[0].endswith("kubernetes.io")


def compute_usage(requests: Usage, limits: Usage) -> Usage:
    out: Usage = {}
    for k, v in requests.items():
        if k in ("cpu", "memory"):
            out[k] = v
            out[f"requests.{k}"] = v
        elif k == "ephemeral-storage":
            out["requests.ephemeral-storage"] = v
        elif k.startswith("hugepages-") or not _is_native(k):
            out[f"requests.{k}"] = v
    for k, v in limits.items():
        if k in ("cpu", "memory", "ephemeral-storage"):
            out[f"limits.{k}"] = v
    return out


def pod_is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_usage(pod: Obj) -> Usage:
    usage: Usage = {"count/pods": ONE}
    if pod_is_terminal(pod):
        return usage
    spec = pod.get("spec") or {}
    usage["pods"] = ONE
    return add(usage, compute_usage(_pod_total(spec, "requests"), _pod_total(spec, "limits")))


def is_best_effort(pod: Obj) -> bool:
    for c in list((pod.get("spec") or {}).get("containers") or []) + \
            list((pod.get("spec") or {}).get("initContainers") or []):
        for which in ("requests", "limits"):
            if any(k in ("cpu", "memory") for k in _rl(c, which)):
                return False
    return True


def pod_constraints(required: set[str], pod: Obj) -> str | None:
    """Each container must state every constrained cpu/memory resource (upstream Constraints)."""
    need = required & set(POD_REQUIRED)
    if not need:
        return None
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        have = set(compute_usage(_rl(c, "requests"), _rl(c, "limits")))
        for r in need - have:
            missing.setdefault(r, set()).add(str(c.get("name", "")))
    if not missing:
        return None
    return "must specify " + "; ".join(f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))


# ---- scopes ------------------------------------------------------------------------------
def _scope_matches(scope: str, op: str, values: list[str], pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    if scope == "Terminating":
        ads = spec.get("activeDeadlineSeconds")
        return isinstance(ads, int) and ads >= 0
    if scope == "NotTerminating":
        ads = spec.get("activeDeadlineSeconds")
        return not (isinstance(ads, int) and ads >= 0)
    if scope == "BestEffort":
        return is_best_effort(pod)
    if scope == "NotBestEffort":
        return not is_best_effort(pod)
    if scope == "PriorityClass":
        pc = spec.get("priorityClassName") or ""
        if op == "Exists":
            return bool(pc)
        if op == "DoesNotExist":
            return not pc
        if op == "In":
            return pc in values
        if op == "NotIn":
            return pc not in values
    return False  # CrossNamespacePodAffinity and unknown scopes: not evaluated here


def quota_scopes(quota: Obj) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    out: list[tuple[str, str, list[str]]] = [(s, "Exists", []) for s in spec.get("scopes") or []]
    for e in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []):
        if isinstance(e, dict):
            out.append((e.get("scopeName", ""), e.get("operator", ""), list(e.get("values") or [])))
    return out


def matches(quota: Obj, group: str, plural: str, obj: Obj) -> bool:
    scopes = quota_scopes(quota)
    if not scopes:
        return True
    if group != "" or plural != "pods":
        return False
    return all(_scope_matches(s, op, vals, obj) for s, op, vals in scopes)


# ---- every kind --------------------------------------------------------------------------
def _service_usage(svc: Obj) -> Usage:
    spec = svc.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    ports = len(spec.get("ports") or [])
    out: Usage = {}
    if typ == "NodePort":
        out["services.nodeports"] = Quantity(Decimal(ports), DECIMAL_SI)
    elif typ == "LoadBalancer":
        out["services.loadbalancers"] = ONE
        if spec.get("allocateLoadBalancerNodePorts", True) is not False:
            out["services.nodeports"] = Quantity(Decimal(ports), DECIMAL_SI)
    return out


def _pvc_usage(pvc: Obj) -> Usage:
    spec = pvc.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    sc = spec.get("storageClassName") or ""
    out: Usage = {}
    if sc:
        out[f"{sc}{SC_SUFFIX}persistentvolumeclaims"] = ONE
    if storage is not None:
        out["requests.storage"] = q(storage)
        if sc:
            out[f"{sc}{SC_SUFFIX}requests.storage"] = q(storage)
    return out


def usage(group: str, plural: str, obj: Obj) -> Usage:
    """Everything `obj` (of resource group/plural) costs."""
    if group == "" and plural == "pods":
        return pod_usage(obj)
    out: Usage = {count_name(group, plural): ONE}
    if group == "" and plural in LEGACY_COUNT:
        out[plural] = ONE
    if group == "" and plural == "services":
        out.update(_service_usage(obj))
    elif group == "" and plural == "persistentvolumeclaims":
        out.update(_pvc_usage(obj))
    return out


def covers(group: str, plural: str, name: str) -> bool:
    """Whether a quota line `name` can be charged by objects of group/plural."""
    if name == count_name(group, plural) or (group == "" and name == plural and plural in LEGACY_COUNT):
        return True
    if group != "":
        return False
    if plural == "pods":
        return name in ("cpu", "memory") or name.startswith(_POD_COMPUTE_PREFIXES) and name != "requests.storage"
    if plural == "services":
        return name in ("services.nodeports", "services.loadbalancers")
    if plural == "persistentvolumeclaims":
        return name == "requests.storage" or SC_SUFFIX in name
    return False
