"""DefaultTolerationSeconds admission: every new pod tolerates not-ready/unreachable for 300 s.

Why: without it a pod would be evicted the moment its node is tainted NoExecute; with it,
pods ride out a short node blip and are moved after five minutes. Upstream 1.32
(plugin/pkg/admission/defaulttolerationseconds): on pod CREATE only, unless the pod already has
a toleration that covers the taint (same key or empty key, NoExecute or empty effect), append
`{key, operator: Exists, effect: NoExecute, tolerationSeconds: N}` for not-ready, then
unreachable. `seconds_not_ready` / `seconds_unreachable` are the cluster-wide fast-failover knob
(`--default-not-ready-toleration-seconds` / `--default-unreachable-toleration-seconds` upstream).
"""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType

from .registry import WriteOpts

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


class DefaultTolerationSeconds:
    def __init__(self, seconds_not_ready: int = 300, seconds_unreachable: int = 300):
        self.seconds_not_ready = seconds_not_ready
        self.seconds_unreachable = seconds_unreachable

    async def __call__(self, op: str, rt: ResourceType, new: dict[str, Any] | None, old: dict[str, Any] | None,
                       opts: WriteOpts) -> None:
        if op != "CREATE" or new is None or rt.group != "" or rt.kind != "Pod" or opts.subresource:
            return
        spec = new.setdefault("spec", {})
        tols = spec.get("tolerations")
        if not isinstance(tols, list):
            tols = []
        has = {NOT_READY: False, UNREACHABLE: False}
        for t in tols:
            if not isinstance(t, dict) or (t.get("effect") or "NoExecute") != "NoExecute":
                continue
            for key in has:
                if (t.get("key") or "") in ("", key):
                    has[key] = True
        add = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}
               for key, secs in ((NOT_READY, self.seconds_not_ready), (UNREACHABLE, self.seconds_unreachable))
               if not has[key]]
        if add:
            spec["tolerations"] = tols + add
