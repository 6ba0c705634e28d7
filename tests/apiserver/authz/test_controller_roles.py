"""The bootstrapped per-controller roles and the agent-API binding, asked through SubjectAccessReview."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.apiserver.authz.bootstrap_controller_roles import CONTROLLER_ROLES, TUGBOAT_EXTRAS

from .helpers import Api, rbac_server

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


async def allowed(api: Api, user: str, verb: str, resource: str, *, groups: tuple[str, ...] = (),
                  group: str = "", sub: str = "", ns: str = "default", name: str = "") -> bool:
    ra: dict[str, Any] = {"verb": verb, "group": group, "resource": resource, "subresource": sub,
                          "namespace": ns, "name": name}
    code, out = await api.call("admin", "POST", SAR, {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": [*groups, "system:authenticated"], "resourceAttributes": ra}})
    assert code == 201, out
    return bool(out["status"]["allowed"])


def sa(name: str) -> str:
    return f"system:serviceaccount:kube-system:{name}"


SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:kube-system")


@pytest.mark.parametrize(("user", "verb", "resource", "kw", "expect"), [
    (sa("job-controller"), "get", "secrets", {}, False),
    (sa("job-controller"), "create", "pods", {}, True),
    (sa("job-controller"), "delete", "deployments", {"group": "apps"}, False),
    (sa("deployment-controller"), "create", "replicasets", {"group": "apps"}, True),
    (sa("endpoint-controller"), "delete", "pods", {}, False),
    (sa("generic-garbage-collector"), "delete", "secrets", {}, True),
    (sa("persistent-volume-binder"), "create", "storageclasses", {"group": "storage.k8s.io", "ns": ""}, True),
    (sa("statefulset-controller"), "patch", "statefulsets", {"group": "apps", "sub": "status"}, True),
    # the API server's kubelet client reaches every agent API (kubeadm:apiserver-kubelet-client)
    ("kube-apiserver-kubelet-client", "create", "nodes", {"sub": "proxy", "ns": "", "name": "n1"}, True),
    ("kube-apiserver-kubelet-client", "get", "nodes", {"sub": "stats", "ns": "", "name": "n1"}, True),
    ("kube-apiserver-kubelet-client", "get", "secrets", {}, False),
    # the manager's own identity: read everything, write little, tokens only for its controllers
    ("system:kube-controller-manager", "list", "pods", {}, True),
    ("system:kube-controller-manager", "create", "pods", {}, False),
    ("system:kube-controller-manager", "create", "serviceaccounts",
     {"sub": "token", "ns": "kube-system", "name": "job-controller"}, True),
    ("system:kube-controller-manager", "create", "serviceaccounts",
     {"sub": "token", "ns": "kube-system", "name": "default"}, False),
    ("system:kube-controller-manager", "create", "serviceaccounts",
     {"sub": "token", "ns": "default", "name": "job-controller"}, False),
])
async def test_least_privilege(user: str, verb: str, resource: str, kw: dict[str, str], expect: bool) -> None:
    async with rbac_server() as (_, api):
        groups = SA_GROUPS if user.startswith("system:serviceaccount:") else ()
        assert await allowed(api, user, verb, resource, groups=groups, **kw) is expect


async def test_opt_out_credential_gets_the_union_and_roles_are_upstream_named() -> None:
    async with rbac_server() as (_, api):
        assert await allowed(api, "system:kube-controller-manager", "create", "pods",
                             groups=("system:tugboat:controller-manager-shared",))
        code, roles = await api.call("admin", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles")
        names = {r["metadata"]["name"] for r in roles["items"]}
        assert {f"system:controller:{n}" for n in CONTROLLER_ROLES} <= names
        assert {f"system:controller:{n}:tugboat" for n in TUGBOAT_EXTRAS} <= names
        code, b = await api.call("admin", "GET",
                                 "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:controller:job-controller")
        assert b["subjects"] == [{"kind": "ServiceAccount", "apiGroup": "", "name": "job-controller",
                             "namespace": "kube-system"}]
        assert b["roleRef"]["name"] == "system:controller:job-controller"
