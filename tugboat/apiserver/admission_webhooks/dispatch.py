"""The MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins.

Why two hooks from one class: upstream runs mutating webhooks in the mutating phase, one after
another, each seeing the previous one's patch (JSONPatch, applied here and the object
re-validated), and validating webhooks later, all at once. A denial is
`admission webhook "<name>" denied the request: <message>` with the webhook's code (at least
400); an unreachable webhook is skipped under failurePolicy Ignore and is a 500
`failed calling webhook "<name>": ...` under Fail. Response warnings become Warning headers.
Configurations are read from the store on each write (a short list; no cache to go stale).
reinvocationPolicy IfNeeded is accepted but not re-invoked (documented gap).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import orjson

from tugboat.api import errors
from tugboat.api.errors import ApiError
from tugboat.api.scheme import ResourceType

from .. import codec, compat
from ..registry import Registry, WriteOpts
from . import match
from .review import CallError, build_request, call

log = logging.getLogger(__name__)
Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io"


def denied(name: str, resp: Obj) -> ApiError:
    st = resp.get("status") or {}
    code = int(st.get("code") or 0)
    code = code if code >= 400 else 400
    base = f'admission webhook "{name}" denied the request'
    if st.get("message"):
        msg = f"{base}: {st['message']}"
    elif st.get("reason"):
        msg = f"{base}: {st['reason']}"
    else:
        msg = f"{base} without explanation"
    return ApiError(code, str(st.get("reason") or ""), msg, st.get("details"))


class WebhookAdmission:
    def __init__(self, registry: Registry, *, mutating: bool):
        self.registry = registry
        self.mutating = mutating
        plural = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
        self.cfg_type = registry.scheme.get(GROUP, "v1", plural)
        self.ns_type = registry.scheme.get("", "v1", "namespaces")

    async def _hooks(self) -> list[Obj]:
        assert self.cfg_type is not None
        res = await self.registry.backend.list(self.cfg_type.key_prefix)
        cfgs = sorted((codec.decode(kv.value, kv.mod_revision) for kv in res.items),
                      key=lambda c: c["metadata"]["name"])
        return [h for c in cfgs for h in (c.get("webhooks") or []) if isinstance(h, dict)]

    async def _ns_labels(self, rt: ResourceType, obj: Obj) -> dict[str, Any] | None:
        meta = obj.get("metadata") or {}
        if rt.group == "" and rt.kind == "Namespace":
            return meta.get("labels") or {}
        if not rt.namespaced or self.ns_type is None:
            return None
        kv = await self.registry.backend.get(self.ns_type.key(None, meta.get("namespace", "")))
        return (codec.decode(kv.value, kv.mod_revision)["metadata"].get("labels") or {}) if kv else {}

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if rt.group == GROUP or self.cfg_type is None or op not in ("CREATE", "UPDATE", "DELETE"):
            return
        hooks = [h for h in await self._hooks() if match.rules_match(h.get("rules") or [], op, rt, opts.subresource)]
        if not hooks:
            return
        obj = new if new is not None else old or {}
        ns_labels = await self._ns_labels(rt, obj)
        chosen = []
        for h in hooks:
            if ns_labels is not None and not match.selector_matches(h.get("namespaceSelector"), ns_labels):
                continue
            if not match.object_selected(h.get("objectSelector"), new, old):
                continue
            chosen.append(h)
        if self.mutating:
            for h in chosen:
                await self._call(h, op, rt, new, old, opts)
        elif chosen:
            await asyncio.gather(*(self._call(h, op, rt, new, old, opts) for h in chosen))

    async def _call(self, hook: Obj, op: str, rt: ResourceType, new: Obj | None, old: Obj | None,
                    opts: WriteOpts) -> None:
        name = str(hook.get("name", ""))
        fail = hook.get("failurePolicy", "Fail") != "Ignore"
        request = build_request(op, rt, new, old, opts)
        conds = hook.get("matchConditions") or []
        if conds:
            ok, err = match.conditions_match(conds, {"object": new, "oldObject": old, "request": request})
            if err:
                if fail:
                    raise errors.forbidden_error(f'failed to evaluate match conditions for webhook "{name}": {err}')
                return
            if not ok:
                return
        try:
            url, server_name = await self._target(hook)
            resp = await call(url, server_name, (hook.get("clientConfig") or {}).get("caBundle"),
                              int(hook.get("timeoutSeconds") or 10), request)
        except CallError as e:
            if fail:
                raise errors.internal(f'failed calling webhook "{name}": {e}') from None
            log.warning("webhook %s failed (failurePolicy Ignore): %s", name, e)
            return
        for w in resp.get("warnings") or []:
            opts.warnings.append(str(w))
        if not resp.get("allowed"):
            raise denied(name, resp)
        if self.mutating and resp.get("patch") and new is not None:
            self._apply(name, rt, resp, new, old)

    def _apply(self, name: str, rt: ResourceType, resp: Obj, new: Obj, old: Obj | None) -> None:
        if resp.get("patchType", "JSONPatch") != "JSONPatch":
            raise errors.internal(f'failed calling webhook "{name}": unsupported patch type "{resp.get("patchType")}"')
        try:
            ops = orjson.loads(base64.b64decode(resp["patch"]))
            patched = compat.json_patch(new, ops)
        except ApiError:
            raise
        except Exception as e:
            raise errors.internal(f'failed calling webhook "{name}": invalid patch: {e}') from None
        strat = self.registry.strategy(rt)
        errs = strat.validate(patched) + (strat.validate_update(patched, old) if old is not None else [])
        if errs:
            raise errors.invalid_object(rt.group, rt.kind, (patched.get("metadata") or {}).get("name", ""), errs)
        new.clear()
        new.update(patched)

    async def _target(self, hook: Obj) -> tuple[str, str | None]:
        cc = hook.get("clientConfig") or {}
        if cc.get("url"):
            return str(cc["url"]), None
        svc = cc.get("service") or {}
        ns, sname, port = svc.get("namespace", ""), svc.get("name", ""), int(svc.get("port") or 443)
        path = svc.get("path") or "/"
        host = await self._resolve(ns, sname, port)
        return f"https://{host}{path}", f"{sname}.{ns}.svc"

    async def _resolve(self, ns: str, name: str, port: int) -> str:
        """host:port of a ready endpoint of the service (the apiserver needs no cluster DNS)."""
        svc_t = self.registry.scheme.get("", "v1", "services")
        ep_t = self.registry.scheme.get("", "v1", "endpoints")
        assert svc_t is not None and ep_t is not None
        kv = await self.registry.backend.get(svc_t.key(ns, name))
        if kv is None:
            raise CallError(f'failed to call webhook: service "{name}" not found')
        svc = codec.decode(kv.value, kv.mod_revision)
        sport = next((p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port), None)
        if sport is None:
            raise CallError(f"failed to call webhook: service {ns}/{name} has no port {port}")
        ekv = await self.registry.backend.get(ep_t.key(ns, name))
        for subset in (codec.decode(ekv.value, ekv.mod_revision).get("subsets") or []) if ekv else []:
            addrs = subset.get("addresses") or []
            eport = next((p.get("port") for p in subset.get("ports") or []
                          if (p.get("name") or "") == (sport.get("name") or "")), None)
            if addrs and eport:
                return f"{addrs[0]['ip']}:{eport}"
        cip = (svc.get("spec") or {}).get("clusterIP")
        if cip and cip != "None":
            return f"{cip}:{port}"
        raise CallError(f'failed to call webhook: no endpoints available for service "{name}"')
