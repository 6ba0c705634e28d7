"""LimitRanger admission: default and bound the resources of pods and PVCs per namespace.

Why: a namespace admin writes a LimitRange once and every pod gets sane requests/limits (so the
scheduler and a compute quota can work) and none can ask for more than the max. Upstream 1.32
(plugin/pkg/admission/limitranger):
* mutating, pods on CREATE only: each container without a limit/request for a resource gets the
  Container item's `default` / `defaultRequest`, noted in the annotation
  `kubernetes.io/limit-ranger: LimitRanger plugin set: cpu, memory request for container c; ...`;
* validating: Container items check min/max/maxLimitRequestRatio of every (init) container,
  Pod items the pod totals, PersistentVolumeClaim items the claim's storage request (also on
  UPDATE). Violations are a 403 with upstream's words, e.g.
  `pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2`.
Comparisons are in milli-units, as upstream's requestLimitEnforcedValues.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import quota
from tugboat.api.quantity import Quantity
from tugboat.api.scheme import ResourceType

from . import codec
from .admission_quota import forbidden, obj_name
from .registry import Registry, WriteOpts

Obj = dict[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"
RL = dict[str, Quantity]


def _min(kind: str, res: str, enforced: Quantity, req: RL, lim: RL) -> str | None:
    e = enforced.canonical()
    if res not in req:
        return f"minimum {res} usage per {kind} is {e}.  No request is specified"
    if req[res].milli_value() < enforced.milli_value():
        return f"minimum {res} usage per {kind} is {e}, but request is {req[res].canonical()}"
    if res in lim and lim[res].milli_value() < enforced.milli_value():
        return f"minimum {res} usage per {kind} is {e}, but limit is {lim[res].canonical()}"
    return None


def _max(kind: str, res: str, enforced: Quantity, req: RL, lim: RL) -> str | None:
    e = enforced.canonical()
    if res not in lim:
        return f"maximum {res} usage per {kind} is {e}.  No limit is specified"
    if lim[res].milli_value() > enforced.milli_value():
        return f"maximum {res} usage per {kind} is {e}, but limit is {lim[res].canonical()}"
    if res in req and req[res].milli_value() > enforced.milli_value():
        return f"maximum {res} usage per {kind} is {e}, but request is {req[res].canonical()}"
    return None


def _max_request(kind: str, res: str, enforced: Quantity, req: RL) -> str | None:
    e = enforced.canonical()
    if res not in req:
        return f"maximum {res} usage per {kind} is {e}.  No request is specified"
    if req[res].milli_value() > enforced.milli_value():
        return f"maximum {res} usage per {kind} is {e}, but request is {req[res].canonical()}"
    return None


def _ratio(kind: str, res: str, enforced: Quantity, req: RL, lim: RL) -> str | None:
    e = enforced.canonical()
    r = req[res].milli_value() if res in req else 0
    m = lim[res].milli_value() if res in lim else 0
    if r == 0:
        return f"{res} max limit to request ratio per {kind} is {e}, but no request is specified or request is 0"
    if m == 0:
        return f"{res} max limit to request ratio per {kind} is {e}, but no limit is specified or limit is 0"
    observed = m / r
    if observed * 1000 > enforced.milli_value():
        return f"{res} max limit to request ratio per {kind} is {e}, but provided ratio is {observed:f}"
    return None


def _check(kind: str, item: Obj, req: RL, lim: RL) -> list[str]:
    out: list[str | None] = []
    mins, maxs = quota.parse_list(item.get("min")), quota.parse_list(item.get("max"))
    ratios = quota.parse_list(item.get("maxLimitRequestRatio"))
    out += [_min(kind, k, mins[k], req, lim) for k in sorted(mins)]
    out += [_max(kind, k, maxs[k], req, lim) for k in sorted(maxs)]
    out += [_ratio(kind, k, ratios[k], req, lim) for k in sorted(ratios)]
    return [m for m in out if m]


def _res(c: Obj, which: str) -> RL:
    return quota.parse_list((c.get("resources") or {}).get(which))


def _pod_totals(spec: Obj, which: str) -> RL:
    total: RL = {}
    for c in spec.get("containers") or []:
        total = quota.add(total, _res(c, which))
    for ic in spec.get("initContainers") or []:
        for k, v in _res(ic, which).items():
            if k not in total or total[k] < v:
                total[k] = v
    return quota.add(total, quota.parse_list(spec.get("overhead")))


def _merge_defaults(c: Obj, limits: Obj, requests: Obj, prefix: str) -> list[str]:
    res = c.setdefault("resources", {})
    notes = []
    set_lim = [k for k in limits if k not in (res.get("limits") or {})]
    set_req = [k for k in requests if k not in (res.get("requests") or {})]
    if set_lim:
        res["limits"] = {**(res.get("limits") or {}), **{k: limits[k] for k in set_lim}}
    if set_req:
        res["requests"] = {**(res.get("requests") or {}), **{k: requests[k] for k in set_req}}
    if set_req:
        notes.append(f"{', '.join(sorted(set_req))} request for {prefix} {c.get('name', '')}")
    if set_lim:
        notes.append(f"{', '.join(sorted(set_lim))} limit for {prefix} {c.get('name', '')}")
    return notes


def aggregate(msgs: list[str]) -> str:
    """utilerrors.NewAggregate's message: one error as is, several as `[a, b]`."""
    return msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"


class LimitRanger:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.lr_type = registry.scheme.get("", "v1", "limitranges")

    async def _items(self, ns: str) -> list[Obj]:
        assert self.lr_type is not None
        res = await self.registry.backend.list(self.lr_type.namespace_prefix(ns))
        out: list[Obj] = []
        for kv in res.items:
            lr = codec.decode(kv.value, kv.mod_revision)
            out += [i for i in ((lr.get("spec") or {}).get("limits") or []) if isinstance(i, dict)]
        return out

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if new is None or rt.group != "" or opts.subresource or self.lr_type is None:
            return
        is_pod = rt.plural == "pods" and op == "CREATE"
        is_pvc = rt.plural == "persistentvolumeclaims" and op in ("CREATE", "UPDATE")
        if not (is_pod or is_pvc):
            return
        items = await self._items(new["metadata"].get("namespace") or "")
        if not items:
            return
        errs = self.pod(new, items) if is_pod else self.pvc(new, items)
        if errs:
            raise forbidden(rt, obj_name(new), aggregate(errs))

    @staticmethod
    def pod(pod: Obj, items: list[Obj]) -> list[str]:
        spec = pod.setdefault("spec", {})
        limits: Obj = {}
        requests: Obj = {}
        for it in items:
            if it.get("type") == "Container":
                limits.update(it.get("default") or {})
                requests.update(it.get("defaultRequest") or {})
        notes: list[str] = []
        if limits or requests:
            for c in spec.get("containers") or []:
                notes += _merge_defaults(c, limits, requests, "container")
            for c in spec.get("initContainers") or []:
                notes += _merge_defaults(c, limits, requests, "init container")
        if notes:
            meta = pod.setdefault("metadata", {})
            meta["annotations"] = {**(meta.get("annotations") or {}),
                                   ANNOTATION: "LimitRanger plugin set: " + "; ".join(notes)}
        errs: list[str] = []
        for it in items:
            if it.get("type") == "Container":
                for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
                    errs += _check("Container", it, _res(c, "requests"), _res(c, "limits"))
            elif it.get("type") == "Pod":
                errs += _check("Pod", it, _pod_totals(spec, "requests"), _pod_totals(spec, "limits"))
        return errs

    @staticmethod
    def pvc(pvc: Obj, items: list[Obj]) -> list[str]:
        req = quota.parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
        errs: list[str | None] = []
        for it in items:
            if it.get("type") != "PersistentVolumeClaim":
                continue
            mins, maxs = quota.parse_list(it.get("min")), quota.parse_list(it.get("max"))
            errs += [_min("PersistentVolumeClaim", k, mins[k], req, {}) for k in sorted(mins)]
            errs += [_max_request("PersistentVolumeClaim", k, maxs[k], req) for k in sorted(maxs)]
        return [e for e in errs if e]
