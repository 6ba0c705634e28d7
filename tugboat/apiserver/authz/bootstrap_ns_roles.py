"""Upstream's default namespaced Roles and RoleBindings (bootstrappolicy namespace policy, 1.32).

Leader-election locks and the authentication-configmap reader in kube-system, the bootstrap
signer in kube-public and kube-system, token cleaner and cloud provider. Same labels and
autoupdate annotation as the cluster-wide defaults; reconciled by reconcile.py.
"""

from __future__ import annotations

from typing import Any

from .bootstrap_roles import EVENTS, RBAC, _meta, r

Obj = dict[str, Any]
_LOCK = [r("create get list update watch", "coordination.k8s.io", "leases"),
         r("create get list update watch", "coordination.k8s.io", "leasecandidates")]

# (namespace, name, rules)
_ROLES: list[tuple[str, str, list[Obj]]] = [
    ("kube-public", "system:controller:bootstrap-signer", [
        r("get list watch", "core", "configmaps"), r("update", "core", "configmaps", "cluster-info"), EVENTS]),
    ("kube-system", "extension-apiserver-authentication-reader", [
        r("get list watch", "core", "configmaps", "extension-apiserver-authentication")]),
    ("kube-system", "system::leader-locking-kube-controller-manager", _LOCK),
    ("kube-system", "system::leader-locking-kube-scheduler", _LOCK),
    ("kube-system", "system:controller:bootstrap-signer", [r("get list watch", "core", "secrets")]),
    ("kube-system", "system:controller:cloud-provider", [r("create get list watch", "core", "configmaps")]),
    ("kube-system", "system:controller:token-cleaner", [r("delete get list watch", "core", "secrets"), EVENTS]),
]

# (namespace, binding name, role name, subjects as (kind, name); ServiceAccounts are "ns/name")
_BINDINGS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("kube-public", "system:controller:bootstrap-signer", "system:controller:bootstrap-signer",
     [("ServiceAccount", "kube-system/bootstrap-signer")]),
    ("kube-system", "system::extension-apiserver-authentication-reader", "extension-apiserver-authentication-reader",
     [("User", "system:kube-controller-manager"), ("User", "system:kube-scheduler")]),
    ("kube-system", "system::leader-locking-kube-controller-manager", "system::leader-locking-kube-controller-manager",
     [("User", "system:kube-controller-manager"), ("ServiceAccount", "kube-system/kube-controller-manager"),
      ("ServiceAccount", "kube-system/leader-election-controller")]),
    ("kube-system", "system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler",
     [("User", "system:kube-scheduler"), ("ServiceAccount", "kube-system/kube-scheduler")]),
    ("kube-system", "system:controller:bootstrap-signer", "system:controller:bootstrap-signer",
     [("ServiceAccount", "kube-system/bootstrap-signer")]),
    ("kube-system", "system:controller:cloud-provider", "system:controller:cloud-provider",
     [("ServiceAccount", "kube-system/cloud-provider")]),
    ("kube-system", "system:controller:token-cleaner", "system:controller:token-cleaner",
     [("ServiceAccount", "kube-system/token-cleaner")]),
]


def _subject(kind: str, name: str) -> Obj:
    if kind == "ServiceAccount":
        ns, _, n = name.partition("/")
        return {"kind": kind, "name": n, "namespace": ns}
    return {"kind": kind, "apiGroup": RBAC, "name": name}


def roles() -> list[Obj]:
    from .bootstrap_controller_roles import token_creator_role
    out: list[Obj] = [{"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {**_meta(name), "namespace": ns},
                       "rules": [dict(x) for x in rules]} for ns, name, rules in _ROLES]
    return [token_creator_role(), *out]


def role_bindings() -> list[Obj]:
    from .bootstrap_controller_roles import token_creator_binding
    out: list[Obj] = [{"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                       "metadata": {**_meta(name), "namespace": ns},
                       "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role},
                       "subjects": [_subject(k, n) for k, n in subjects]} for ns, name, role, subjects in _BINDINGS]
    return [token_creator_binding(), *out]
