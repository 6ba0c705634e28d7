"""The Node authorizer: an agent (`system:node:<name>` in `system:nodes`) reaches only what its pods need.

Upstream's `plugin/pkg/auth/authorizer/node`: a graph from pods to the objects they reference
(secrets, configmaps, PVCs, the service account) decides whether a node may read one of them;
leases only in `kube-node-lease` under its own name; pod status only for pods bound to it;
everything else is judged against the static node rules (the `system:node` ClusterRole rules),
without any binding. Unrelated requests get NoOpinion with upstream's reason, so RBAC can still
grant them, and the reason reaches the 403 message.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tugboat.store.backend import Backend

from .attrs import Attrs, Decision
from .cache import Mirror
from .rbac import rules_allow

Obj = dict[str, Any]
NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
Ref = tuple[str, str, str]  # (kind, namespace, name)


def node_name(user: Any) -> str | None:
    """The node a user is, or None if not a node identity ("" = a node with no name)."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return str(user.name[len(NODE_PREFIX):])


def _containers(spec: Obj) -> list[Obj]:
    out: list[Obj] = []
    for k in ("initContainers", "containers", "ephemeralContainers"):
        out += [c for c in spec.get(k) or () if isinstance(c, dict)]
    return out


def pod_refs(pod: Obj) -> set[Ref]:
    """Every object a pod makes its node read (upstream graph_populator's edges)."""
    ns = (pod.get("metadata") or {}).get("namespace", "")
    pname = (pod.get("metadata") or {}).get("name", "")
    spec = pod.get("spec") or {}
    refs: set[Ref] = set()

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name:
            refs.add((kind, ns, name))

    add("serviceaccounts", spec.get("serviceAccountName") or "default")
    for s in spec.get("imagePullSecrets") or ():
        add("secrets", (s or {}).get("name"))
    for c in _containers(spec):
        for e in c.get("envFrom") or ():
            add("secrets", ((e or {}).get("secretRef") or {}).get("name"))
            add("configmaps", ((e or {}).get("configMapRef") or {}).get("name"))
        for e in c.get("env") or ():
            vf = (e or {}).get("valueFrom") or {}
            add("secrets", (vf.get("secretKeyRef") or {}).get("name"))
            add("configmaps", (vf.get("configMapKeyRef") or {}).get("name"))
    for v in spec.get("volumes") or ():
        v = v or {}
        add("secrets", (v.get("secret") or {}).get("secretName"))
        add("configmaps", (v.get("configMap") or {}).get("name"))
        add("persistentvolumeclaims", (v.get("persistentVolumeClaim") or {}).get("claimName"))
        if v.get("ephemeral"):
            add("persistentvolumeclaims", f"{pname}-{v.get('name', '')}")
        for src in (v.get("projected") or {}).get("sources") or ():
            add("secrets", ((src or {}).get("secret") or {}).get("name"))
            add("configmaps", ((src or {}).get("configMap") or {}).get("name"))
        for key in ("csi", "cephfs", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos", "azureFile"):
            src = v.get(key) or {}
            for ref_key in ("nodePublishSecretRef", "secretRef"):
                add("secrets", (src.get(ref_key) or {}).get("name"))
    return refs


class NodeGraph:
    """pods → node and node → referenced objects, kept current from a pod Mirror."""

    def __init__(self) -> None:
        self.pod_node: dict[tuple[str, str], str] = {}
        self.edges: dict[str, Counter[Ref]] = {}
        self._pod_refs: dict[tuple[str, str], tuple[str, set[Ref]]] = {}

    def on_pod(self, key: str, new: Obj | None, old: Obj | None) -> None:
        src = new or old or {}
        meta = src.get("metadata") or {}
        pk = (meta.get("namespace", ""), meta.get("name", ""))
        prev = self._pod_refs.pop(pk, None)
        if prev is not None:
            node, refs = prev
            c = self.edges.get(node)
            if c is not None:
                c.subtract(refs)
                for r in refs:
                    if c[r] <= 0:
                        del c[r]
            self.pod_node.pop(pk, None)
        bound = ((new or {}).get("spec") or {}).get("nodeName") if new is not None else None
        if isinstance(bound, str) and bound:
            node = bound
            refs = pod_refs(new or {})
            self._pod_refs[pk] = (node, refs)
            self.pod_node[pk] = node
            self.edges.setdefault(node, Counter()).update(refs)

    def related(self, node: str, kind: str, ns: str, name: str) -> bool:
        return self.edges.get(node, Counter())[(kind, ns, name)] > 0


_READ = ("get", "list", "watch")
_NO_REL = "no relationship found between node '{}' and this object"


class NodeAuthorizer:
    def __init__(self, backend: Backend, pods_prefix: str, node_rules: list[Obj]):
        self.graph = NodeGraph()
        self.pods = Mirror(backend, pods_prefix)
        self.pods.listeners.append(self.graph.on_pod)
        self.node_rules = node_rules

    async def start(self) -> None:
        await self.pods.start()

    async def stop(self) -> None:
        await self.pods.stop()

    def decide(self, a: Attrs) -> tuple[Decision, str]:
        node = node_name(a.user)
        if node is None:
            return Decision.NO_OPINION, ""
        if not node:
            return Decision.NO_OPINION, "unknown node for user " + repr(a.user.name)
        if a.resource_request:
            r = self._resource(node, a)
            if r is not None:
                return r
        if rules_allow(a, self.node_rules):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _resource(self, node: str, a: Attrs) -> tuple[Decision, str] | None:
        g, res, sub = a.api_group, a.resource, a.subresource
        if g == "" and res in ("secrets", "configmaps"):
            return self._read_object(node, a)
        if g == "" and res == "persistentvolumeclaims":
            if sub == "status" and a.verb in ("get", "update", "patch"):
                return self._related(node, a)
            return self._read_object(node, a)
        if g == "" and res == "serviceaccounts" and sub == "token":
            if a.verb != "create":
                return Decision.NO_OPINION, "can only create tokens for individual service accounts"
            return self._related(node, a)
        if g == "coordination.k8s.io" and res == "leases":
            if a.verb not in ("get", "create", "update", "patch", "delete"):
                return Decision.NO_OPINION, "can only get, create, update, patch, or delete a node lease"
            if a.namespace != "kube-node-lease":
                return Decision.NO_OPINION, "can only access leases in the kube-node-lease namespace"
            if a.name != node and not (a.verb == "create" and not a.name):
                return Decision.NO_OPINION, "can only access node lease with the same name as the requesting node"
            return None
        if g == "" and res == "nodes" and a.name and a.name != node and a.verb in ("update", "patch", "delete"):
            return Decision.NO_OPINION, f"node '{node}' cannot modify node '{a.name}'"
        writes_pod = (sub == "status" and a.verb in ("update", "patch")) or (not sub and a.verb == "delete")
        if g == "" and res == "pods" and a.name and writes_pod:
            if self.graph.pod_node.get((a.namespace, a.name)) != node:
                return Decision.NO_OPINION, _NO_REL.format(node)
        return None

    def _read_object(self, node: str, a: Attrs) -> tuple[Decision, str]:
        if a.verb not in _READ:
            return Decision.NO_OPINION, "can only read resources of this type"
        if a.subresource:
            return Decision.NO_OPINION, "cannot read subresource"
        if not a.namespace:
            return Decision.NO_OPINION, "can only read namespaced object of this type"
        if not a.name:
            return Decision.NO_OPINION, "No Object name found, can only get individual resources of this type"
        return self._related(node, a)

    def _related(self, node: str, a: Attrs) -> tuple[Decision, str]:
        if self.graph.related(node, a.resource, a.namespace, a.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, _NO_REL.format(node)
