"""Upstream's per-controller roles: `system:controller:<sa>` bound to the SA kube-system/<sa>.

With `--use-service-account-credentials` (on by default in `tug components`) every controller
talks to the API server as its own service account, so a bug or a compromise in one controller
reaches only what that controller needs: the job controller cannot read Secrets, the endpoints
controller cannot delete Deployments. The rules are copied as facts from upstream 1.32
(bootstrappolicy/testdata/controller-roles.yaml) for the controllers Tugboat has.

Tugboat's controllers do a few writes upstream's don't (patches to status subresources where
upstream updates, the default local-path StorageClass): those rules are in separate roles named
`system:controller:<sa>:tugboat` so the upstream roles stay exactly upstream's. The controller
manager's own identity may mint tokens only for these service accounts
(`system:tugboat:controller-token-creator`, a Role in kube-system with resourceNames), and the
old "one identity for every controller" union role is bound to a group only the opt-out
credential (`--use-service-account-credentials=false`) carries.
"""

from __future__ import annotations

from typing import Any

from .bootstrap_roles import EVENTS, RBAC, RO, _meta, _subject, r

Obj = dict[str, Any]
NAMESPACE = "kube-system"
SHARED_GROUP = "system:tugboat:controller-manager-shared"  # the opt-out credential's group
_SCALE = r("get", "*", "*/scale")

# service account (and role suffix) → rules, upstream 1.32
CONTROLLER_ROLES: dict[str, list[Obj]] = {
    "certificate-controller": [
        r("delete get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        r("update", "certificates.k8s.io", "certificatesigningrequests/approval certificatesigningrequests/status"),
        r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
        r("sign", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client "
          "kubernetes.io/kube-apiserver-client-kubelet kubernetes.io/kubelet-serving kubernetes.io/legacy-unknown"),
        r("create", "authorization.k8s.io", "subjectaccessreviews"), EVENTS],
    "cronjob-controller": [
        r("get list update watch", "batch", "cronjobs"),
        r("create delete get list patch update watch", "batch", "jobs"),
        r("update", "batch", "cronjobs/status"), r("update", "batch", "cronjobs/finalizers"),
        r("delete list watch", "core", "pods"), EVENTS],
    "daemon-set-controller": [
        r(RO, "apps extensions", "daemonsets"), r("update", "apps extensions", "daemonsets/status"),
        r("update", "apps extensions", "daemonsets/finalizers"), r("list watch", "core", "nodes"),
        r("create delete list patch watch", "core", "pods"), r("create", "core", "pods/binding"),
        r("create delete get list patch update watch", "apps", "controllerrevisions"), EVENTS],
    "deployment-controller": [
        r("get list update watch", "apps extensions", "deployments"),
        r("update", "apps extensions", "deployments/status"), r("update", "apps extensions", "deployments/finalizers"),
        r("create delete get list patch update watch", "apps extensions", "replicasets"),
        r("get list update watch", "core", "pods"), EVENTS],
    "disruption-controller": [
        r(RO, "apps extensions", "deployments"), r(RO, "apps extensions", "replicasets"),
        r(RO, "core", "replicationcontrollers"), r(RO, "policy", "poddisruptionbudgets"), r(RO, "apps", "statefulsets"),
        r("update", "policy", "poddisruptionbudgets/status"), r("patch update", "core", "pods/status"), _SCALE, EVENTS],
    "endpoint-controller": [
        r(RO, "core", "pods services"), r("create delete get list update watch", "core", "endpoints"),
        r("create", "core", "endpoints/restricted"), EVENTS],
    "endpointslice-controller": [
        r(RO, "core", "nodes pods services"), r("update", "core", "services/finalizers"),
        r("create delete get list update watch", "discovery.k8s.io", "endpointslices"), EVENTS],
    "ephemeral-volume-controller": [
        r(RO, "core", "pods"), r("update", "core", "pods/finalizers"),
        r("create get list watch", "core", "persistentvolumeclaims"), EVENTS],
    "generic-garbage-collector": [r("delete get list patch update watch", "*", "*"), EVENTS],
    "horizontal-pod-autoscaler": [
        r(RO, "autoscaling", "horizontalpodautoscalers"), r("update", "autoscaling", "horizontalpodautoscalers/status"),
        r("get update", "*", "*/scale"), r("list watch", "core", "pods"), r("list watch", "metrics.k8s.io", "pods"),
        r(RO, "custom.metrics.k8s.io", "*"), r(RO, "external.metrics.k8s.io", "*"), EVENTS],
    "job-controller": [
        r("get list patch update watch", "batch", "jobs"), r("update", "batch", "jobs/status"),
        r("update", "batch", "jobs/finalizers"), r("create delete list patch watch", "core", "pods"), EVENTS],
    "namespace-controller": [
        r("delete get list watch", "core", "namespaces"), r("update", "core", "namespaces/finalize namespaces/status"),
        r("delete deletecollection get list watch", "*", "*")],
    "node-controller": [
        r("delete get list patch update watch", "core", "nodes"), r("patch update", "core", "nodes/status"),
        r("patch update", "core", "pods/status"), r("delete get list watch", "core", "pods"), EVENTS],
    "persistent-volume-binder": [
        r("create delete get list update watch", "core", "persistentvolumes"),
        r("update", "core", "persistentvolumes/status"),
        r("get list update watch", "core", "persistentvolumeclaims"),
        r("update", "core", "persistentvolumeclaims/status"), r("create delete get list watch", "core", "pods"),
        r(RO, "storage.k8s.io", "storageclasses"), r("list watch", "core", "nodes"), EVENTS, r("watch", "core", "events")],
    "pod-garbage-collector": [
        r("delete list watch", "core", "pods"), r(RO, "core", "nodes"), r("patch", "core", "pods/status")],
    "pv-protection-controller": [r("get list update watch", "core", "persistentvolumes"), EVENTS],
    "pvc-protection-controller": [
        r("get list update watch", "core", "persistentvolumeclaims"),
        r("update", "core", "persistentvolumeclaims/status"), r(RO, "core", "pods"), EVENTS],
    "replicaset-controller": [
        r("get list update watch", "apps extensions", "replicasets"),
        r("update", "apps extensions", "replicasets/status"), r("update", "apps extensions", "replicasets/finalizers"),
        r("create delete list patch watch", "core", "pods"), EVENTS],
    "replication-controller": [
        r("get list update watch", "core", "replicationcontrollers"),
        r("update", "core", "replicationcontrollers/status"), r("update", "core", "replicationcontrollers/finalizers"),
        r("create delete list patch watch", "core", "pods"), EVENTS],
    "resourcequota-controller": [r("list watch", "*", "*"), r("update", "core", "resourcequotas/status"), EVENTS],
    "root-ca-cert-publisher": [r("create update", "core", "configmaps"), EVENTS],
    "service-account-controller": [r("create", "core", "serviceaccounts"), EVENTS],
    "statefulset-controller": [
        r("list watch", "core", "pods"), r(RO, "apps", "statefulsets"), r("update", "apps", "statefulsets/status"),
        r("update", "apps", "statefulsets/finalizers"), r("create delete get patch update", "core", "pods"),
        r("create delete get list patch update watch", "apps", "controllerrevisions"),
        r("create get list watch", "core", "persistentvolumeclaims"),
        r("delete update", "core", "persistentvolumeclaims"), r("update", "core", "pods/finalizers"), EVENTS],
    "ttl-after-finished-controller": [r("delete get list watch", "batch", "jobs"), EVENTS],
}

# Tugboat-only additions: `system:controller:<sa>:tugboat`, bound to the same service account.
TUGBOAT_EXTRAS: dict[str, list[Obj]] = {
    # collisionCount is patched into status (upstream updates the whole status)
    "daemon-set-controller": [r("patch", "apps", "daemonsets/status")],
    # the built-in local-path provisioner: its default StorageClass, status patches, capacity of
    # provisioned volumes
    "persistent-volume-binder": [
        r("create", "storage.k8s.io", "storageclasses"), r("patch", "core", "persistentvolumes"),
        r("patch", "core", "persistentvolumes/status persistentvolumeclaims/status")],
    # status patches and PVC owner references (upstream: updates)
    "statefulset-controller": [r("patch", "apps", "statefulsets/status"), r("patch", "core", "persistentvolumeclaims")],
}


def controller_cluster_roles() -> list[Obj]:
    out: list[Obj] = []
    for sa, rules in CONTROLLER_ROLES.items():
        out.append({"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": _meta(f"system:controller:{sa}"),
                    "rules": [dict(x) for x in rules]})
    for sa, rules in TUGBOAT_EXTRAS.items():
        out.append({"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                    "metadata": _meta(f"system:controller:{sa}:tugboat"), "rules": [dict(x) for x in rules]})
    return out


def _binding(name: str, sa: str) -> Obj:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [_subject("ServiceAccount", f"{NAMESPACE}/{sa}")]}


def controller_cluster_role_bindings() -> list[Obj]:
    out = [_binding(f"system:controller:{sa}", sa) for sa in CONTROLLER_ROLES]
    out += [_binding(f"system:controller:{sa}:tugboat", sa) for sa in TUGBOAT_EXTRAS]
    return out


TOKEN_CREATOR = "system:tugboat:controller-token-creator"


def token_creator_role() -> Obj:
    """kube-system Role: the manager may create and read these SAs and mint their tokens only."""
    names = " ".join(sorted(CONTROLLER_ROLES))
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {**_meta(TOKEN_CREATOR), "namespace": NAMESPACE},
            "rules": [r("create", "core", "serviceaccounts/token", names)]}


def token_creator_binding() -> Obj:
    return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
            "metadata": {**_meta(TOKEN_CREATOR), "namespace": NAMESPACE},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": TOKEN_CREATOR},
            "subjects": [_subject("User", "system:kube-controller-manager")]}
