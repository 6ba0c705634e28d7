"""Matching rules shared by several plugins and by preemption (plugins never import each other).

Tolerations vs taints (v1helper.TolerationsTolerateTaint), node selector terms with
matchExpressions on labels and matchFields on metadata.name (nodeaffinity.NodeSelector), and
pod affinity terms with their namespaces / namespaceSelector / matchLabelKeys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tugboat.api.selectors import LabelSelector, Requirement, label_selector_from_dict

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


# -- taints ------------------------------------------------------------------------------------

def tolerates(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (tol.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def first_untolerated(taints: Iterable[Mapping[str, Any]],
                      tolerations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for taint in taints:
        if not tolerated(tolerations, taint):
            return taint
    return None


# -- node selectors ----------------------------------------------------------------------------

_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": "gt", "Lt": "lt"}


@dataclass(frozen=True, slots=True)
class NodeTerm:
    """One nodeSelectorTerm: label requirements AND metadata.name requirements."""

    labels: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]
    valid: bool = True

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if not self.valid or (not self.labels and not self.fields):
            return False  # an empty term matches nothing
        for r in self.labels:
            if not r.matches(labels):
                return False
        if self.fields:
            fields = {"metadata.name": name}
            for r in self.fields:
                if not r.matches(fields):
                    return False
        return True


def _reqs(exprs: Any) -> tuple[tuple[Requirement, ...], bool]:
    out = []
    for e in exprs or ():
        op = _OPS.get(e.get("operator", ""))
        if op is None:
            return (), False
        out.append(Requirement(e.get("key", ""), op, tuple(e.get("values") or ())))
    return tuple(out), True


def parse_node_term(term: Mapping[str, Any]) -> NodeTerm:
    labels, ok1 = _reqs(term.get("matchExpressions"))
    fields, ok2 = _reqs(term.get("matchFields"))
    ok2 = ok2 and all(r.key == "metadata.name" for r in fields)
    return NodeTerm(labels, fields, ok1 and ok2)


def term_node_names(term: NodeTerm) -> set[str] | None:
    """The node names a term is limited to by `metadata.name In [...]`, or None."""
    names: set[str] | None = None
    for r in term.fields:
        if r.operator == "in":
            names = set(r.values) if names is None else names & set(r.values)
    return names


# -- pod affinity terms ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AffinityTerm:
    selector: LabelSelector
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None  # None: only `namespaces`
    topology_key: str
    weight: int = 0

    def matches(self, namespace: str, labels: Mapping[str, str] | None,
                ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
        if namespace not in self.namespaces:
            sel = self.namespace_selector
            if sel is None or not sel.matches(ns_labels.get(namespace)):
                return False
        return self.selector.matches(labels)


def parse_affinity_term(term: Mapping[str, Any], pod_ns: str, pod_labels: Mapping[str, str],
                        weight: int = 0) -> AffinityTerm:
    raw = term.get("labelSelector")
    selector = label_selector_from_dict(raw)
    extra = []
    for key in term.get("matchLabelKeys") or ():
        if key in pod_labels:
            extra.append(Requirement(key, "in", (pod_labels[key],)))
    for key in term.get("mismatchLabelKeys") or ():
        if key in pod_labels:
            extra.append(Requirement(key, "notin", (pod_labels[key],)))
    if extra and raw is not None:
        selector = LabelSelector(tuple(sorted(selector.requirements + tuple(extra), key=lambda r: r.key)))
    namespaces = frozenset(term.get("namespaces") or ())
    ns_sel_raw = term.get("namespaceSelector")
    ns_sel = label_selector_from_dict(ns_sel_raw) if ns_sel_raw is not None else None
    if not namespaces and ns_sel is None:
        namespaces = frozenset((pod_ns,))
    return AffinityTerm(selector, namespaces, ns_sel, term.get("topologyKey") or "", weight)
