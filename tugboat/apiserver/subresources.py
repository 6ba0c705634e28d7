"""Subresources other than status: scale (autoscaling/v1 Scale), pods/binding, pods/eviction,
and the node-facing ones (log/exec/attach/portforward/proxy) that wait for the node agent."""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from . import codec, compat, decode
from .context import Ctx
from .deletion import DeleteOpts, delete
from .handlers.common import write_opts
from .handlers.patch import JSON_PATCH, MERGE, SMP
from .registry import WriteOpts
from .request import Req, Resp, json_resp

Obj = dict[str, Any]
NODE_FACING = frozenset({"log", "exec", "attach", "portforward", "proxy"})


def selector_string(sel: Any) -> str:
    """A LabelSelector (or an RC's plain map) in its string form, as `kubectl` shows it."""
    if not isinstance(sel, dict):
        return ""
    if "matchLabels" not in sel and "matchExpressions" not in sel:
        return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, key, vals = e.get("operator"), e.get("key"), sorted(e.get("values") or [])
        if op == "In":
            parts.append(f"{key} in ({','.join(vals)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(vals)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(sorted(parts))


def _dig(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for p in path.lstrip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _set(obj: Obj, path: str, value: Any) -> None:
    parts = path.lstrip(".").split(".")
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value


def scale_paths(ctx: Ctx, rt: ResourceType) -> tuple[str, str, str | None]:
    if rt.custom:
        crds = ctx.extras.get("crds")
        paths = crds.scale_paths(rt) if crds is not None else None
        if paths:
            return paths  # type: ignore[no-any-return]
    return ".spec.replicas", ".status.replicas", None


def to_scale(ctx: Ctx, rt: ResourceType, obj: Obj) -> Obj:
    spec_p, status_p, sel_p = scale_paths(ctx, rt)
    meta = obj["metadata"]
    if sel_p:
        sel = _dig(obj, sel_p) or ""
    else:
        sel = selector_string((obj.get("spec") or {}).get("selector"))
    status: Obj = {"replicas": int(_dig(obj, status_p) or 0)}
    if sel:
        status["selector"] = sel
    smeta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": smeta,
            "spec": {"replicas": int(_dig(obj, spec_p) or 0)}, "status": status}


async def scale(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    reg = ctx.registry
    if req.method in ("GET", "HEAD"):
        return json_resp(to_scale(ctx, rt, await reg.get(rt, ns, name)))
    if req.method not in ("PUT", "PATCH"):
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    opts = write_opts(req, subresource="scale")
    ct = decode.media_type(req.header("Content-Type"))
    if req.method == "PUT":
        body = decode.decode_object(req.body, req.header("Content-Type"), "autoscaling", "v1", "Scale")
    else:
        if ct not in (JSON_PATCH, MERGE, SMP):
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                           f"accepted media types include: {JSON_PATCH}, {MERGE}, {SMP}")
        body = decode.loads_json(req.body)
    spec_p = scale_paths(ctx, rt)[0]
    pinned = False

    async def fn(old: Obj | None) -> Obj | None:
        nonlocal pinned
        if old is None:
            raise reg.not_found(rt, name)
        cur = to_scale(ctx, rt, old)
        if req.method == "PUT":
            new_scale = body
        elif ct == JSON_PATCH:
            new_scale = compat.json_patch(cur, body)
        else:
            new_scale = compat.merge_patch(cur, body)
        rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.stale_conflict(rt.group, rt.plural, name)
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid_object("autoscaling", "Scale", name, [errors.invalid(
                "spec.replicas", replicas, "must be greater than or equal to 0")])
        new = codec.copy(old)
        _set(new, spec_p, replicas)
        reg.prepare_update(rt, new, old, "")
        await reg._admit("UPDATE", rt, new, old, opts)
        reg._managed(rt, old, new, opts)
        return new

    if req.method == "PUT":
        pinned = bool((body.get("metadata") or {}).get("resourceVersion"))
    obj, _ = await reg.guaranteed_update(rt, ns, name, fn, opts, precondition_given=pinned)
    return json_resp(to_scale(ctx, rt, obj))


async def binding(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    if req.method != "POST":
        raise errors.method_not_allowed("the server does not allow this method on the requested resource")
    body = decode.decode_object(req.body, req.header("Content-Type"), "", "v1", "Binding")
    target = body.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    if not node:
        raise errors.invalid_object("", "Binding", name, [errors.required("target.name")])
    opts = write_opts(req)
    reg = ctx.registry
    now = ctx.clock.rfc3339()

    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            raise reg.not_found(rt, name)
        if old["metadata"].get("deletionTimestamp"):
            raise errors.conflict("", "pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
        cur = (old.get("spec") or {}).get("nodeName")
        if cur:
            raise errors.conflict("", "pods/binding", name, f'pod {name} is already assigned to node "{cur}"')
        uid = (body.get("metadata") or {}).get("uid")
        if uid and uid != old["metadata"].get("uid"):
            raise errors.conflict("", "pods/binding", name, "the UID in the bind request does not match")
        # `old` is this call's own decoded copy: copy only the maps that change (a full copy
        # of the pod was a measurable share of every bind).
        status = dict(old.get("status") or {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
        status["conditions"] = conds
        new = {**old, "metadata": dict(old["metadata"]), "spec": {**(old.get("spec") or {}), "nodeName": node},
               "status": status}
        # Like upstream's setPodHostAndAnnotations: a direct storage update, no managedFields
        # entry for the binding (it is the hottest write of a scheduling cycle).
        return new

    await reg.guaranteed_update(rt, ns, name, fn, opts)
    return json_resp({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)


async def eviction(ctx: Ctx, req: Req, rt: ResourceType, ns: str, name: str) -> Resp:
    """POST pods/x/eviction: a delete that a PodDisruptionBudget may refuse (429)."""
    body = decode.decode_object(req.body, req.header("Content-Type"), "policy", "v1", "Eviction")
    o = DeleteOpts.from_body(body.get("deleteOptions") if isinstance(body.get("deleteOptions"), dict) else None, {})
    opts = write_opts(req)
    pod = await ctx.registry.get(rt, ns, name)
    if not _pdb_ignorable(pod):
        await _check_and_decrement_pdb(ctx, pod, ns, name, opts)
    await delete(ctx.registry, rt, ns, name, o, opts)
    return json_resp({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)


def _pdb_ignorable(pod: Obj) -> bool:
    """Terminal, pending or already deleting pods are evicted without consulting budgets."""
    return bool(pod["metadata"].get("deletionTimestamp")) or \
        (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Pending")


def _pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


async def _check_and_decrement_pdb(ctx: Ctx, pod: Obj, ns: str, name: str, opts: Any) -> None:
    """Upstream's checkAndDecrement: at most one PDB may match; its disruptionsAllowed pays."""
    from tugboat.api.selectors import label_selector_from_dict

    pdb_rt = ctx.scheme.get("policy", "v1", "poddisruptionbudgets")
    if pdb_rt is None:
        return
    labels = pod["metadata"].get("labels") or {}
    matching = []
    for kv in (await ctx.backend.list(pdb_rt.namespace_prefix(ns))).items:
        pdb = codec.decode(kv.value, kv.mod_revision)
        sel = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        if not sel.empty and sel.matches(labels):
            matching.append(pdb)
    if not matching:
        return
    if len(matching) > 1:
        raise errors.internal("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                              "does not support.")
    pdb_name = matching[0]["metadata"]["name"]
    status = matching[0].get("status") or {}
    policy = (matching[0].get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if not _pod_ready(pod) and (policy == "AlwaysAllow" or (
            status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0)):
        return  # an unhealthy pod does not count against a budget that is being met

    def refuse(message: str) -> ApiError:
        return ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                        {"causes": [{"reason": "DisruptionBudget", "message": message}]})

    async def fn(old: Obj | None) -> Obj | None:
        if old is None:
            raise ctx.registry.not_found(pdb_rt, pdb_name)
        st = old.get("status") or {}
        if st.get("observedGeneration", 0) < old["metadata"].get("generation", 0):
            raise refuse(f"The disruption budget {pdb_name} is still being processed by the server.")
        allowed = st.get("disruptionsAllowed", 0)
        if allowed < 0:
            raise errors.forbidden_error(f'poddisruptionbudgets.policy "{pdb_name}" is forbidden: '
                                         "pdb disruptions allowed is negative")
        if len(st.get("disruptedPods") or {}) > 2000:
            raise errors.forbidden_error(f'poddisruptionbudgets.policy "{pdb_name}" is forbidden: DisruptedPods '
                                         "map too big - too many evictions not confirmed by PDB controller")
        if allowed == 0:
            raise refuse(f"The disruption budget {pdb_name} needs {st.get('desiredHealthy', 0)} healthy pods "
                         f"and has {st.get('currentHealthy', 0)} currently")
        new = codec.copy(old)
        nst = new.setdefault("status", {})
        nst["disruptionsAllowed"] = allowed - 1
        if allowed - 1 == 0:
            for c in nst.get("conditions") or []:
                if c.get("type") == "DisruptionAllowed":
                    c.update(status="False", reason="InsufficientPods", message="",
                             lastTransitionTime=ctx.clock.rfc3339())
        nst.setdefault("disruptedPods", {})[name] = ctx.clock.rfc3339()
        return new

    if not opts.dry_run:
        await ctx.registry.guaranteed_update(pdb_rt, ns, pdb_name, fn, WriteOpts())
    else:
        await fn(matching[0])


def node_facing(rt: ResourceType, sub: str, name: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable",
                    f"{rt.plural}/{sub} for {name!r} is not available: no node agent is connected yet")
