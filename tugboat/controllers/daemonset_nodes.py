"""Which nodes a DaemonSet belongs on, and the pod it puts there (upstream daemon/util).

A node is eligible when the daemon pod — with the tolerations upstream adds to every daemon
pod — matches its nodeSelector and required node affinity and tolerates its NoSchedule /
NoExecute taints. A pod already there may *continue running* on a node whose untolerated taints
are only NoSchedule. The pod is not bound by us: like upstream 1.32 it gets a required node
affinity term `matchFields metadata.name In [node]` and the default scheduler places it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tugboat.api.selectors import Requirement

from ._workload_pods import Obj, meta, owner_ref, pod_from_template
from .controllerhistory import REVISION_HASH_LABEL

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": "gt", "Lt": "lt"}


def daemon_tolerations(spec: Mapping[str, Any]) -> list[Obj]:
    """The template's tolerations plus upstream's AddOrUpdateDaemonPodTolerations."""
    extra = [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
             ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
             ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")]
    if spec.get("hostNetwork"):
        extra.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    tols = [dict(t) for t in spec.get("tolerations") or ()]
    for key, effect in extra:
        if not any(t.get("key") == key and t.get("effect") == effect and t.get("operator") == "Exists" for t in tols):
            tols.append({"key": key, "operator": "Exists", "effect": effect})
    return tols


def tolerates(tols: list[Obj], taint: Mapping[str, Any]) -> bool:
    for t in tols:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("key") and t.get("key") != taint.get("key"):
            continue
        if not t.get("key") and t.get("operator") != "Exists":
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = meta(node).get("labels") or {}
    for e in exprs:
        r = Requirement(e.get("key", ""), _OPS.get(e.get("operator", ""), "?"), tuple(e.get("values") or ()))
        if not r.matches(labels):
            return False
    for f in fields:
        if f.get("key") != "metadata.name":
            return False
        name_in = meta(node).get("name") in (f.get("values") or ())
        if (f.get("operator") == "In") != name_in:
            return False
    return True


def matches_node(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = meta(node).get("labels") or {}
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if req is not None:
        return any(_term_matches(t, node) for t in req.get("nodeSelectorTerms") or ())
    return True


def should_run(ds: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, bool]:
    """(should run a pod here, may an existing pod continue running) — NodeShouldRunDaemonPod."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if spec.get("nodeName") and spec["nodeName"] != meta(node).get("name"):
        return False, False
    if not matches_node(spec, node):
        return False, False
    tols = daemon_tolerations(spec)
    untolerated = [t for t in (node.get("spec") or {}).get("taints") or ()
                   if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tols, t)]
    if untolerated:
        return False, not any(t.get("effect") == "NoExecute" for t in untolerated)
    return True, True


def target_node(pod: Mapping[str, Any]) -> str | None:
    """The node a daemon pod is for: spec.nodeName, or its matchFields affinity (unscheduled)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in req.get("nodeSelectorTerms") or ():
        for f in term.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or ()) == 1:
                return str(f["values"][0])
    return None


def new_pod(ds: Mapping[str, Any], node_name: str, hash_: str) -> Obj:
    md = meta(ds)
    pod = pod_from_template((ds.get("spec") or {}).get("template"), md["namespace"],
                            owner_ref(ds, "apps/v1", "DaemonSet"))
    pm = pod["metadata"]
    pm["generateName"] = f"{md['name']}-"
    gen = (md.get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    labels = {**(pm.get("labels") or {}), REVISION_HASH_LABEL: hash_}
    if gen:
        labels[TEMPLATE_GENERATION_LABEL] = str(gen)
    pm["labels"] = labels
    spec = pod["spec"]
    spec["tolerations"] = daemon_tolerations(spec)
    affinity = dict(spec.get("affinity") or {})
    node_aff = dict(affinity.get("nodeAffinity") or {})
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    affinity["nodeAffinity"] = node_aff
    spec["affinity"] = affinity
    return pod
