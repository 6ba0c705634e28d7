"""StatefulSet pod identity and storage, as pure functions over dicts.

A StatefulSet's pods are not interchangeable: pod `<set>-<ordinal>` always has the same name,
hostname, `statefulset.kubernetes.io/pod-name` / `apps.kubernetes.io/pod-index` labels and the
same PersistentVolumeClaims `<claim template>-<set>-<ordinal>`, so a replacement picks up where
its predecessor stopped. Claims outlive pods; `persistentVolumeClaimRetentionPolicy` decides
(through ownerReferences the garbage collector follows) whether deleting the set or scaling it
down deletes them — the same reference layout as upstream's stateful_set_utils.go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tugboat.client import copy_obj

from ._workload_pods import Obj, meta, owner_ref, pod_from_template
from .controllerhistory import REVISION_HASH_LABEL

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(set_name: str, pod: Mapping[str, Any]) -> int | None:
    """The ordinal in `<set>-<ordinal>`, or None for a name that isn't one of ours."""
    name = str(meta(pod).get("name", ""))
    prefix = set_name + "-"
    if not name.startswith(prefix):
        return None
    tail = name[len(prefix):]
    if not tail.isdigit() or (len(tail) > 1 and tail[0] == "0"):
        return None
    return int(tail)


def start_ordinal(sset: Mapping[str, Any]) -> int:
    return int(((sset.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def claim_name(template: Mapping[str, Any], set_name: str, ordinal: int) -> str:
    return f"{meta(template).get('name', '')}-{set_name}-{ordinal}"


def claim_templates(sset: Mapping[str, Any]) -> list[Obj]:
    return list((sset.get("spec") or {}).get("volumeClaimTemplates") or ())


def new_pod(sset: Mapping[str, Any], template: Mapping[str, Any], ordinal: int, revision: str) -> Obj:
    """The pod for `ordinal` from `template` (the current or update revision's)."""
    md = meta(sset)
    set_name = md["name"]
    pod = pod_from_template(template, md["namespace"], owner_ref(sset, "apps/v1", "StatefulSet"))
    name = f"{set_name}-{ordinal}"
    pm = pod["metadata"]
    pm["name"] = name
    pm["labels"] = {**(pm.get("labels") or {}), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                    REVISION_HASH_LABEL: revision}
    spec = pod["spec"]
    spec["hostname"] = name
    service = (sset.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = {meta(t).get("name"): claim_name(t, set_name, ordinal) for t in claim_templates(sset)}
    if claims:
        vols = [v for v in spec.get("volumes") or () if v.get("name") not in claims]
        for vname, cname in claims.items():
            vols.append({"name": vname, "persistentVolumeClaim": {"claimName": cname}})
        spec["volumes"] = vols
    return pod


def new_claims(sset: Mapping[str, Any], ordinal: int) -> list[Obj]:
    """The PVCs the pod at `ordinal` mounts (template labels + the set's matchLabels)."""
    md = meta(sset)
    match = (((sset.get("spec") or {}).get("selector")) or {}).get("matchLabels") or {}
    out = []
    for t in claim_templates(sset):
        c = copy_obj(t)
        c.pop("status", None)
        cm = c.setdefault("metadata", {})
        cm["name"] = claim_name(t, md["name"], ordinal)
        cm["namespace"] = md["namespace"]
        cm["labels"] = {**(cm.get("labels") or {}), **match}
        c["apiVersion"], c["kind"] = "v1", "PersistentVolumeClaim"
        out.append(c)
    return out


def retention(sset: Mapping[str, Any]) -> tuple[str, str]:
    p = (sset.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return p.get("whenDeleted") or "Retain", p.get("whenScaled") or "Retain"


def desired_claim_refs(claim: Mapping[str, Any], sset: Mapping[str, Any], pod: Mapping[str, Any] | None,
                       condemned: bool) -> list[Obj] | None:
    """The claim's ownerReferences under the retention policy, or None when already right.

    whenDeleted=Delete → a reference to the set (unless the pod is condemned and whenScaled
    is Delete too); whenScaled=Delete → a reference to the condemned pod."""
    when_deleted, when_scaled = retention(sset)
    set_uid = meta(sset).get("uid")
    pod_uid = meta(pod or {}).get("uid")
    refs = [dict(r) for r in meta(claim).get("ownerReferences") or ()]
    want_set = when_deleted == "Delete" and not (condemned and when_scaled == "Delete")
    want_pod = when_scaled == "Delete" and condemned and pod_uid is not None
    out = [r for r in refs if r.get("uid") not in (set_uid, pod_uid)]
    if want_set:
        out.append(owner_ref(sset, "apps/v1", "StatefulSet", controller=False))
    if want_pod and pod is not None:
        out.append(owner_ref(pod, "v1", "Pod", controller=False))
    key = sorted(r.get("uid", "") for r in refs)
    return None if key == sorted(r.get("uid", "") for r in out) else out
