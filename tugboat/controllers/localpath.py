"""The built-in `rancher.io/local-path` provisioner (k3s's local-path-provisioner, as objects).

Why it exists: a single-node or small cluster needs dynamic volumes without any storage
system. Like k3s, a volume is a directory on the node that runs the first consumer; so the
class binds WaitForFirstConsumer and the PV carries node affinity to that node. The controller
only WRITES OBJECTS here: the directory itself is created and removed by the node agent
(tugboat/node/volume_localpath.py), which also advertises where its storage lives with the
node annotation `storage.tugboat.io/local-path-dir`.

PV naming and layout follow local-path-provisioner: `pvc-<claim uid>`, hostPath
`<dir>/<pv>_<namespace>_<claim>` of type DirectoryOrCreate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tugboat.api.storage_binding import (
    ANN_DEFAULT_CLASS,
    ANN_DYNAMICALLY_PROVISIONED,
    ANN_SELECTED_NODE,
    HOSTNAME_LABEL,
    LOCAL_PATH_DIR_ANN,
    LOCAL_PATH_NODE_ANN,
    LOCAL_PATH_PROVISIONER,
    anns,
    claim_ref,
    meta,
    spec,
)

Obj = dict[str, Any]
PROVISIONER = LOCAL_PATH_PROVISIONER
CLASS_NAME = "local-path"
DIR_ANNOTATION = LOCAL_PATH_DIR_ANN


class ProvisionError(Exception):
    """Provisioning cannot happen (yet): the message becomes a ProvisioningFailed event."""


def default_storage_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": CLASS_NAME, "annotations": {ANN_DEFAULT_CLASS: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True}


def volume_name(claim: Mapping[str, Any]) -> str:
    return f"pvc-{meta(claim).get('uid', '')}"


def provision(claim: Mapping[str, Any], sc: Mapping[str, Any], node: Mapping[str, Any] | None) -> Obj:
    """The PV for a claim, on its selected node. Raises ProvisionError when that is not possible."""
    node_name = anns(claim).get(ANN_SELECTED_NODE)
    if not node_name:
        raise ProvisionError("configuration error, no node was specified")
    if node is None:
        raise ProvisionError(f'nodes "{node_name}" not found')
    base = anns(node).get(DIR_ANNOTATION)
    if not base:
        raise ProvisionError(f"node {node_name} does not advertise a local-path directory yet "
                             f"(annotation {DIR_ANNOTATION})")
    cm, cs = meta(claim), spec(claim)
    name = volume_name(claim)
    path = os.path.join(base, f"{name}_{cm.get('namespace', '')}_{cm.get('name', '')}")
    hostname = ((node.get("metadata") or {}).get("labels") or {}).get(HOSTNAME_LABEL, node_name)
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {ANN_DYNAMICALLY_PROVISIONED: PROVISIONER,
                                                       LOCAL_PATH_NODE_ANN: node_name}},
            "spec": {"capacity": {"storage": ((cs.get("resources") or {}).get("requests") or {}).get("storage", "0")},
                     "accessModes": list(cs.get("accessModes") or ["ReadWriteOnce"]),
                     "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                     "storageClassName": meta(sc).get("name", ""),
                     "volumeMode": cs.get("volumeMode") or "Filesystem",
                     "claimRef": claim_ref(claim),
                     "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}]}}}}
