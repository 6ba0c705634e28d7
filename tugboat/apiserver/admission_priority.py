"""Priority admission: resolve a pod's priorityClassName into spec.priority.

Upstream 1.32 (plugin/pkg/admission/priority): on pod CREATE, a named PriorityClass must
exist (403 otherwise) and gives spec.priority and spec.preemptionPolicy; without a name the
cluster's globalDefault class applies, else priority 0. A pod may not state a priority that
differs from its class. PriorityClass writes may not add a second globalDefault. The two
system classes (system-cluster-critical, system-node-critical) exist from the first start.
"""

from __future__ import annotations

from typing import Any

from tugboat.api import errors
from tugboat.api.scheme import ResourceType

from . import codec
from .registry import Registry, WriteOpts

Obj = dict[str, Any]
SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def system_priority_classes() -> list[Obj]:
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
             "value": value, "preemptionPolicy": "PreemptLowerPriority",
             "description": "Used for system critical pods that must not be moved from their current node."
             if name == "system-node-critical" else "Used for system critical pods that must run in the cluster, "
             "but can be moved to another node if necessary."}
            for name, value in SYSTEM_CLASSES.items()]


class PriorityAdmission:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.pc_type = registry.scheme.get("scheduling.k8s.io", "v1", "priorityclasses")

    async def _classes(self) -> list[Obj]:
        assert self.pc_type is not None
        res = await self.registry.backend.list(self.pc_type.key_prefix)
        return [codec.decode(kv.value, kv.mod_revision) for kv in res.items]

    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        if new is None or op not in ("CREATE", "UPDATE") or self.pc_type is None:
            return
        if rt.group == "scheduling.k8s.io" and rt.kind == "PriorityClass" and not opts.subresource:
            if new.get("globalDefault"):
                name = new["metadata"].get("name", "")
                for pc in await self._classes():
                    if pc.get("globalDefault") and pc["metadata"]["name"] != name:
                        raise errors.forbidden_error(
                            f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                            f'{pc["metadata"]["name"]} is already marked as default. Only one default can exist')
            return
        if rt.group != "" or rt.kind != "Pod" or op != "CREATE" or opts.subresource:
            return
        spec = new.setdefault("spec", {})
        name = spec.get("priorityClassName") or ""
        pod_name = new["metadata"].get("name") or new["metadata"].get("generateName", "")
        value, policy = 0, "PreemptLowerPriority"
        if name:
            kv = await self.registry.backend.get(self.pc_type.key(None, name))
            if kv is None:
                raise errors.forbidden_error(
                    f'pods "{pod_name}" is forbidden: no PriorityClass with name {name} was found')
            pc = codec.decode(kv.value, kv.mod_revision)
            value, policy = int(pc.get("value", 0)), pc.get("preemptionPolicy") or policy
        else:
            default = next((pc for pc in await self._classes() if pc.get("globalDefault")), None)
            if default is not None:
                spec["priorityClassName"] = default["metadata"]["name"]
                value = int(default.get("value", 0))
                policy = default.get("preemptionPolicy") or policy
        given = spec.get("priority")
        if given is not None and given != value:
            raise errors.forbidden_error(
                f'pods "{pod_name}" is forbidden: the integer value of priority ({given}) must not be provided in '
                f'pod spec; priority admission controller computed {value} from the given PriorityClass name')
        spec["priority"] = value
        spec.setdefault("preemptionPolicy", policy)
