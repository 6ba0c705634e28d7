"""NodeRestriction admission: a node agent may only write what belongs to its own node.

Why: the node authorizer lets every agent write nodes, pods and leases in general; without this
plugin one compromised node could rewrite another node, delete other nodes' pods or label
itself into a workload's nodeSelector (e.g. `node-restriction.kubernetes.io/...` labels meant
to steer sensitive workloads). Upstream 1.32 (plugin/pkg/admission/noderestriction), for a
user `system:node:<name>` in group `system:nodes`:
* Node: create/update/delete only its own; may not set `node-restriction.kubernetes.io/` labels,
  nor add or change `kubernetes.io` / `k8s.io` labels other than the kubelet's own set;
  may not change its taints on update;
* Pod: create only mirror pods bound to itself, delete and update status only of pods bound
  to itself, no other pod update;
* Lease: only its own, in kube-node-lease.
"""

from __future__ import annotations

from typing import Any

from tugboat.api.scheme import ResourceType

from .admission_quota import forbidden, obj_name
from .registry import WriteOpts

Obj = dict[str, Any]
MIRROR = "kubernetes.io/config.mirror"
NODE_LEASE_NS = "kube-node-lease"
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "kubernetes.io/os",
    "kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/arch"})
KUBELET_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def node_name(opts: WriteOpts) -> str | None:
    u = opts.user
    if u is None or not u.name.startswith("system:node:") or "system:nodes" not in u.groups:
        return None
    return u.name[len("system:node:"):] or None


def _domain(label: str) -> str:
    return label.split("/", 1)[0] if "/" in label else ""


def _in(domain: str, ns: str) -> bool:
    return domain == ns or domain.endswith("." + ns)


def is_kubelet_label(label: str) -> bool:
    return label in KUBELET_LABELS or any(_in(_domain(label), ns) for ns in KUBELET_NAMESPACES)


def forbidden_labels(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    out = set()
    for k, v in new.items():
        d = _domain(k)
        if _in(d, "node-restriction.kubernetes.io"):
            out.add(k)
        if (_in(d, "kubernetes.io") or _in(d, "k8s.io")) and not is_kubelet_label(k) and old.get(k) != v:
            out.add(k)
    return sorted(out)


class NodeRestriction:
    async def __call__(self, op: str, rt: ResourceType, new: Obj | None, old: Obj | None, opts: WriteOpts) -> None:
        node = node_name(opts)
        if node is None:
            return
        if rt.group == "" and rt.kind == "Node":
            self._node(op, rt, node, new, old)
        elif rt.group == "" and rt.kind == "Pod":
            self._pod(op, rt, node, new, old, opts.subresource)
        elif rt.group == "coordination.k8s.io" and rt.kind == "Lease":
            obj = new if new is not None else old
            meta = (obj or {}).get("metadata") or {}
            if meta.get("namespace") != NODE_LEASE_NS:
                raise forbidden(rt, obj_name(obj), f'can only access leases in the "{NODE_LEASE_NS}" system namespace')
            if meta.get("name") != node:
                raise forbidden(rt, obj_name(obj), "can only access node lease with the same name as the requesting "
                                                   "node")

    @staticmethod
    def _node(op: str, rt: ResourceType, node: str, new: Obj | None, old: Obj | None) -> None:
        obj = new if new is not None else old
        name = obj_name(obj)
        if name != node:
            raise forbidden(rt, name, f'node "{node}" is not allowed to modify node "{name}"')
        if new is None:
            return
        labels = (new.get("metadata") or {}).get("labels") or {}
        if op == "CREATE":
            bad = forbidden_labels(labels, {})
            if bad:
                raise forbidden(rt, name, f'node "{node}" is not allowed to set the following labels: '
                                          f'{", ".join(bad)}')
            return
        bad = forbidden_labels(labels, ((old or {}).get("metadata") or {}).get("labels") or {})
        if bad:
            raise forbidden(rt, name, f'node "{node}" is not allowed to modify labels: {", ".join(bad)}')
        if old is not None and (new.get("spec") or {}).get("taints") != (old.get("spec") or {}).get("taints"):
            raise forbidden(rt, name, f'node "{node}" is not allowed to modify taints')

    @staticmethod
    def _pod(op: str, rt: ResourceType, node: str, new: Obj | None, old: Obj | None, sub: str) -> None:
        obj = new if new is not None else old
        name = obj_name(obj)
        bound = ((obj or {}).get("spec") or {}).get("nodeName")
        if sub == "status":
            if bound != node or ((old or {}).get("spec") or {}).get("nodeName") != node:
                raise forbidden(rt, name, f'node "{node}" can only update pod status for pods with spec.nodeName '
                                          "set to itself")
            return
        if sub == "eviction":
            if bound != node:
                raise forbidden(rt, name, f'node "{node}" can only evict pods with spec.nodeName set to itself')
            return
        if op == "DELETE":
            if bound != node:
                raise forbidden(rt, name, f'node "{node}" can only delete pods with spec.nodeName set to itself')
            return
        if op != "CREATE" or new is None:
            raise forbidden(rt, name, f'unexpected operation "{op}", node "{node}" can only create and delete '
                                      "mirror pods")
        NodeRestriction._mirror_pod(rt, node, new)

    @staticmethod
    def _mirror_pod(rt: ResourceType, node: str, pod: Obj) -> None:
        name = obj_name(pod)
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        if MIRROR not in (meta.get("annotations") or {}):
            raise forbidden(rt, name, f'pod does not have "{MIRROR}" annotation, node "{node}" can only create '
                                      "mirror pods")
        if spec.get("nodeName") != node:
            raise forbidden(rt, name, f'node "{node}" can only create pods with spec.nodeName set to itself')
        refs = meta.get("ownerReferences") or []
        if len(refs) > 1 or any(r.get("kind") != "Node" or r.get("name") != node or r.get("apiVersion") != "v1"
                                for r in refs):
            raise forbidden(rt, name, f'node "{node}" can only create pods with an owner reference set to itself')
        if spec.get("serviceAccountName"):
            raise forbidden(rt, name, f'node "{node}" can not create pods that use service accounts')
        for v in spec.get("volumes") or []:
            for key, what in (("secret", "secrets"), ("configMap", "configmaps"),
                              ("persistentVolumeClaim", "persistentvolumeclaims")):
                if isinstance(v, dict) and key in v:
                    raise forbidden(rt, name, f'node "{node}" can not create pods that reference {what}')
