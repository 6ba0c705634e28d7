"""Storage binding facts, pure data: annotations, claim ↔ volume matching, volume node affinity.

Why here (api, no I/O): the PV binder and protection controllers, the scheduler's
VolumeBinding plugin and the node agent's local-path cleanup all need the same annotation names and the same
idea of "does this volume satisfy this claim", and upstream 1.32 defines them once
(pkg/controller/volume/persistentvolume/util, component-helpers/storage/volume). The matching
rules copied here: same class (empty matches empty), volume not bound to another claim, claim
selector matches the volume's labels, every requested access mode offered, same volume mode,
capacity at least the request; the smallest such volume wins, a volume pre-bound to the claim
wins outright.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from tugboat.api.quantity import parse_quantity
from tugboat.api.selectors import label_selector_from_dict

Obj = dict[str, Any]

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_DYNAMICALLY_PROVISIONED = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
ANN_BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# the built-in local-path provisioner (k3s name); its node advertises where volumes live
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
LOCAL_PATH_DIR_ANN = "storage.tugboat.io/local-path-dir"
LOCAL_PATH_NODE_ANN = "local.path.provisioner/selected-node"


def meta(obj: Mapping[str, Any]) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Mapping[str, Any]) -> Obj:
    return obj.get("spec") or {}


def anns(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return meta(obj).get("annotations") or {}


def claim_class(claim: Mapping[str, Any]) -> str:
    s = spec(claim)
    return str(s.get("storageClassName") or anns(claim).get("volume.beta.kubernetes.io/storage-class") or "")


def volume_class(pv: Mapping[str, Any]) -> str:
    s = spec(pv)
    return str(s.get("storageClassName") or anns(pv).get("volume.beta.kubernetes.io/storage-class") or "")


def claim_request(claim: Mapping[str, Any]) -> Decimal:
    raw = ((spec(claim).get("resources") or {}).get("requests") or {}).get("storage")
    try:
        return parse_quantity(raw) if raw is not None else Decimal(0)
    except ValueError:
        return Decimal(0)


def volume_capacity(pv: Mapping[str, Any]) -> Decimal:
    raw = (spec(pv).get("capacity") or {}).get("storage")
    try:
        return parse_quantity(raw) if raw is not None else Decimal(0)
    except ValueError:
        return Decimal(0)


def is_default_class(sc: Mapping[str, Any]) -> bool:
    ann = anns(sc)
    return ann.get(ANN_DEFAULT_CLASS) == "true" or ann.get(ANN_BETA_DEFAULT_CLASS) == "true"


def claim_ref_matches(pv: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """The volume's claimRef names this claim (and this incarnation of it, once it has a uid)."""
    ref = spec(pv).get("claimRef") or {}
    m = meta(claim)
    if ref.get("name") != m.get("name") or (ref.get("namespace") or "") != (m.get("namespace") or ""):
        return False
    return not ref.get("uid") or ref.get("uid") == m.get("uid")


def access_modes_ok(pv: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    offered = set(spec(pv).get("accessModes") or ())
    return all(m in offered for m in spec(claim).get("accessModes") or ())


def _mode(obj: Mapping[str, Any]) -> str:
    return str(spec(obj).get("volumeMode") or "Filesystem")


def node_affinity_matches(pv: Mapping[str, Any], node_name: str, node_labels: Mapping[str, str]) -> bool:
    """The volume's required node affinity admits this node (no affinity admits every node)."""
    req = (spec(pv).get("nodeAffinity") or {}).get("required")
    if not req:
        return True
    for term in req.get("nodeSelectorTerms") or ():
        if _term_matches(term, node_name, node_labels):
            return True
    return False


def _term_matches(term: Mapping[str, Any], node_name: str, labels: Mapping[str, str]) -> bool:
    exprs = list(term.get("matchExpressions") or ())
    fields = list(term.get("matchFields") or ())
    if not exprs and not fields:
        return False
    for e in exprs:
        if not _expr_matches(e, labels.get(e.get("key", ""))):
            return False
    for e in fields:
        if e.get("key") != "metadata.name" or not _expr_matches(e, node_name):
            return False
    return True


def _expr_matches(e: Mapping[str, Any], value: str | None) -> bool:
    op, values = e.get("operator"), list(e.get("values") or ())
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def volume_fits(pv: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Everything but availability and node: class, selector, modes, size."""
    if volume_class(pv) != claim_class(claim) or _mode(pv) != _mode(claim):
        return False
    sel = spec(claim).get("selector")
    if sel and not label_selector_from_dict(sel).matches(meta(pv).get("labels") or {}):
        return False
    return access_modes_ok(pv, claim) and volume_capacity(pv) >= claim_request(claim)


def find_best_match(claim: Mapping[str, Any], volumes: Iterable[Mapping[str, Any]], *, delay_binding: bool = False,
                    node: tuple[str, Mapping[str, str]] | None = None) -> Obj | None:
    """Upstream's findMatchingVolume: a volume pre-bound to the claim first, else the smallest fit.

    With delay_binding and no node, only pre-bound volumes count (the scheduler picks the node
    first); with a node, the volume must also admit that node."""
    best: Mapping[str, Any] | None = None
    for pv in volumes:
        if meta(pv).get("deletionTimestamp"):
            continue
        ref = spec(pv).get("claimRef")
        if node is not None and not node_affinity_matches(pv, node[0], node[1]):
            continue
        if ref and claim_ref_matches(pv, claim):
            if volume_fits(pv, claim) or not spec(claim).get("resources"):
                return dict(pv)
            continue
        if ref or (pv.get("status") or {}).get("phase") not in (None, "Available", "Pending"):
            continue
        if delay_binding and node is None:
            continue
        if spec(claim).get("volumeName") and spec(claim)["volumeName"] != meta(pv).get("name"):
            continue
        if not volume_fits(pv, claim):
            continue
        if best is None or volume_capacity(pv) < volume_capacity(best):
            best = pv
    return dict(best) if best is not None else None


def claim_ref(claim: Mapping[str, Any]) -> Obj:
    m = meta(claim)
    return {"kind": "PersistentVolumeClaim", "namespace": m.get("namespace", ""), "name": m.get("name", ""),
            "uid": m.get("uid", ""), "apiVersion": "v1", "resourceVersion": m.get("resourceVersion", "")}


def pod_claim_names(pod: Mapping[str, Any]) -> list[str]:
    """Claims a pod uses: persistentVolumeClaim volumes and generic ephemeral `<pod>-<volume>` claims."""
    out = []
    for v in spec(pod).get("volumes") or ():
        if v.get("persistentVolumeClaim"):
            out.append(str(v["persistentVolumeClaim"].get("claimName") or ""))
        elif v.get("ephemeral") is not None:
            out.append(f"{meta(pod).get('name', '')}-{v.get('name', '')}")
    return out
