"""RBAC through the real API server: 403 wording, default roles, escalation, reviews, impersonation, nodes."""

from __future__ import annotations

from typing import Any

from tests.support.wait import eventually

from .helpers import Api, rbac_server

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def ns_obj(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def rolebinding(name: str, ns: str, kind: str, role: str, user: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]}


async def until_allowed(api: Api, who: str, path: str) -> None:
    async def ok() -> bool:
        return (await api.call(who, "GET", path))[0] == 200
    await eventually(ok, 20, f"{who} allowed {path}")


async def test_default_deny_with_upstream_messages_and_anonymous_401() -> None:
    async with rbac_server() as (_, api):
        code, st = await api.call("alice", "GET", "/api/v1/namespaces/default/pods")
        assert code == 403
        assert st["reason"] == "Forbidden"
        assert st["message"] == ('pods is forbidden: User "alice" cannot list resource "pods" in API group "" '
                                 'in the namespace "default"')
        assert st["details"] == {"kind": "pods"}
        code, st = await api.call("alice", "GET", "/api/v1/nodes/n9")
        assert (code, st["message"]) == (403, 'nodes "n9" is forbidden: User "alice" cannot get resource "nodes" '
                                               'in API group "" at the cluster scope')
        assert (await api.call(None, "GET", "/api/v1/namespaces"))[0] == 401
        # the default bindings: every authenticated user may discover and ask about itself
        assert (await api.call("alice", "GET", "/apis"))[0] == 200
        assert (await api.call("alice", "GET", "/version"))[0] == 200
        code, st = await api.call("alice", "GET", "/metrics")
        assert (code, st["message"]) == (403, 'forbidden: User "alice" cannot get path "/metrics"')
        assert (await api.call("admin", "GET", "/api/v1/namespaces/default/secrets"))[0] == 200


async def test_view_in_one_namespace_no_secrets_no_exec_no_other_namespace() -> None:
    async with rbac_server() as (_, api):
        for n in ("dev", "prod"):
            assert (await api.call("admin", "POST", "/api/v1/namespaces", ns_obj(n)))[0] == 201
        code, _ = await api.call("admin", "POST", f"{RBAC}/namespaces/dev/rolebindings",
                                 rolebinding("alice-view", "dev", "ClusterRole", "view", "alice"))
        assert code == 201
        await until_allowed(api, "alice", "/api/v1/namespaces/dev/pods")  # view is aggregated at start
        assert (await api.call("alice", "GET", "/apis/apps/v1/namespaces/dev/deployments"))[0] == 200
        assert (await api.call("alice", "GET", "/api/v1/namespaces/dev/secrets"))[0] == 403
        assert (await api.call("alice", "GET", "/api/v1/namespaces/prod/pods"))[0] == 403
        assert (await api.call("alice", "POST", "/api/v1/namespaces/dev/configmaps",
                               {"metadata": {"name": "x"}}))[0] == 403
        code, st = await api.call("alice", "GET", "/api/v1/namespaces/dev/pods/p/exec?command=sh")
        assert code == 403 and "cannot get resource \"pods/exec\"" in st["message"]
        ssar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "dev", "verb": "watch", "resource": "pods"}}}
        _, out = await api.call("alice", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar)
        assert out["status"] == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "alice-view/dev" of '
                                                            'ClusterRole "view" to User "alice"'}


async def test_namespace_admin_cannot_touch_another_namespace() -> None:
    async with rbac_server() as (_, api):
        for n in ("team-a", "team-b"):
            await api.call("admin", "POST", "/api/v1/namespaces", ns_obj(n))
        await api.call("admin", "POST", f"{RBAC}/namespaces/team-a/rolebindings",
                       rolebinding("a-admin", "team-a", "ClusterRole", "admin", "alice"))
        await until_allowed(api, "alice", "/api/v1/namespaces/team-a/secrets")
        cm = {"metadata": {"name": "c"}, "data": {"k": "v"}}
        assert (await api.call("alice", "POST", "/api/v1/namespaces/team-a/configmaps", cm))[0] == 201
        assert (await api.call("alice", "POST", "/api/v1/namespaces/team-b/configmaps", cm))[0] == 403
        assert (await api.call("alice", "DELETE", "/api/v1/namespaces/team-b"))[0] == 403
        # admin may bind roles inside its namespace (it holds what `edit` grants) ...
        code, _ = await api.call("alice", "POST", f"{RBAC}/namespaces/team-a/rolebindings",
                                 rolebinding("bob-edit", "team-a", "ClusterRole", "edit", "bob"))
        assert code == 201
        # ... but not hand out cluster-admin, nor bind in another namespace
        code, st = await api.call("alice", "POST", f"{RBAC}/namespaces/team-a/rolebindings",
                                  rolebinding("bob-root", "team-a", "ClusterRole", "cluster-admin", "bob"))
        assert code == 403
        assert st["message"].startswith('rolebindings.rbac.authorization.k8s.io "bob-root" is forbidden: user "alice" '
                                        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions '
                                        'not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}')
        assert (await api.call("alice", "POST", f"{RBAC}/namespaces/team-b/rolebindings",
                               rolebinding("x", "team-b", "ClusterRole", "view", "bob")))[0] == 403


async def test_escalation_refused_unless_bind_or_escalate() -> None:
    async with rbac_server() as (_, api):
        creator = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                   "metadata": {"name": "role-creator"},
                   "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                              "verbs": ["create"]}]}
        assert (await api.call("admin", "POST", f"{RBAC}/clusterroles", creator))[0] == 201
        await api.call("admin", "POST", f"{RBAC}/namespaces/default/rolebindings",
                       rolebinding("alice-creator", "default", "ClusterRole", "role-creator", "alice"))
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "secret-reader", "namespace": "default"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}

        async def refused() -> Any:
            code, st = await api.call("alice", "POST", f"{RBAC}/namespaces/default/roles", role)
            return st if code == 403 and "attempting to grant" in st["message"] else None
        st = await eventually(refused, 20, "escalation refusal")
        assert st["message"] == ('roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "alice" '
                                 '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
                                 'currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
        code, _ = await api.call("alice", "POST", f"{RBAC}/namespaces/default/rolebindings",
                                 rolebinding("x", "default", "ClusterRole", "cluster-admin", "alice"))
        assert code == 403
        code, st = await api.call("alice", "POST", f"{RBAC}/namespaces/default/rolebindings",
                                  rolebinding("later", "default", "ClusterRole", "not-yet", "alice"))
        assert (code, st["message"]) == (403, 'rolebindings.rbac.authorization.k8s.io "later" is forbidden: '
                                              'clusterroles.rbac.authorization.k8s.io "not-yet" not found')
        # with `bind` on cluster-admin (in this namespace) the same binding is allowed
        binder = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                  "metadata": {"name": "binder", "namespace": "default"},
                  "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                             "verbs": ["bind"], "resourceNames": ["cluster-admin"]}]}
        assert (await api.call("admin", "POST", f"{RBAC}/namespaces/default/roles", binder))[0] == 201
        await api.call("admin", "POST", f"{RBAC}/namespaces/default/rolebindings",
                       rolebinding("alice-binder", "default", "Role", "binder", "alice"))

        async def bound() -> bool:
            return (await api.call("alice", "POST", f"{RBAC}/namespaces/default/rolebindings",
                                   rolebinding("x", "default", "ClusterRole", "cluster-admin", "alice")))[0] == 201
        await eventually(bound, 20, "binding with bind")


async def test_access_reviews_and_impersonation() -> None:
    async with rbac_server() as (_, api):
        ssar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}}
        code, out = await api.call("alice", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar)
        assert code == 201 and out["status"]["allowed"] is False
        code, out = await api.call("admin", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ssar)
        assert out["status"]["allowed"] is True
        sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
               "spec": {"user": "someone", "groups": ["system:masters"],
                        "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}}
        assert (await api.call("alice", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar))[0] == 403
        code, out = await api.call("admin", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
        assert code == 201 and out["status"]["allowed"] is True
        rules = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                 "spec": {"namespace": "default"}}
        code, out = await api.call("alice", "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", rules)
        assert code == 201 and out["status"]["incomplete"] is False
        assert {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]} in out["status"]["resourceRules"]
        # impersonation needs the impersonate verb
        code, st = await api.call("alice", "GET", "/api/v1/namespaces", headers={"Impersonate-User": "admin"})
        assert (code, st["message"]) == (403, 'users "admin" is forbidden: User "alice" cannot impersonate resource '
                                              '"users" in API group "" at the cluster scope')
        code, st = await api.call("admin", "GET", "/api/v1/namespaces", headers={"Impersonate-User": "bob"})
        assert code == 403 and 'User "bob" cannot list resource "namespaces"' in st["message"]
        code, out = await api.call("admin", "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                   {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                                   headers={"Impersonate-User": "bob", "Impersonate-Group": "qa"})
        assert out["status"]["userInfo"] == {"username": "bob", "groups": ["qa", "system:authenticated"]}


async def test_node_reaches_only_its_own_objects() -> None:
    async with rbac_server() as (_, api):
        for name in ("s1", "s2"):
            await api.call("admin", "POST", "/api/v1/namespaces/default/secrets",
                           {"metadata": {"name": name}, "stringData": {"k": "v"}})
        for pod, node, secret in (("a", "n1", "s1"), ("b", "n2", "s2")):
            code, _ = await api.call("admin", "POST", "/api/v1/namespaces/default/pods", {
                "metadata": {"name": pod}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}],
                                                     "volumes": [{"name": "v", "secret": {"secretName": secret}}]}})
            assert code == 201
        await until_allowed(api, "n1", "/api/v1/namespaces/default/secrets/s1")
        code, st = await api.call("n1", "GET", "/api/v1/namespaces/default/secrets/s2")
        assert (code, st["message"]) == (403, 'secrets "s2" is forbidden: User "system:node:n1" cannot get resource '
                                              '"secrets" in API group "" in the namespace "default": no relationship '
                                              "found between node 'n1' and this object")
        assert (await api.call("n1", "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1"))[0] == 200
        _, b = await api.call("admin", "GET", "/api/v1/namespaces/default/pods/b")
        b["status"] = {"phase": "Running"}
        assert (await api.call("n1", "PUT", "/api/v1/namespaces/default/pods/b/status", b))[0] == 403
        assert (await api.call("n1", "GET", "/api/v1/namespaces/default/configmaps"))[0] == 403


async def test_only_cluster_admins_may_aggregate() -> None:
    async with rbac_server() as (_, api):
        maker = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr-maker"},
                 "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                            "verbs": ["create"]}]}
        crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "alice-cr-maker"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr-maker"},
               "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]}
        assert (await api.call("admin", "POST", f"{RBAC}/clusterroles", maker))[0] == 201
        assert (await api.call("admin", "POST", f"{RBAC}/clusterrolebindings", crb))[0] == 201
        agg = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "grab-all"},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"kubernetes.io/bootstrapping":
                                                                             "rbac-defaults"}}]}}

        async def refused() -> Any:
            code, st = await api.call("alice", "POST", f"{RBAC}/clusterroles", agg)
            return st if code == 403 and "aggregationRule" in st["message"] else None
        st = await eventually(refused, 20, "aggregationRule refused")
        assert st["message"] == ('clusterroles.rbac.authorization.k8s.io "grab-all" is forbidden: must have '
                                 'cluster-admin privileges to use the aggregationRule')
        # the same role without the aggregationRule and without rules is fine
        agg.pop("aggregationRule")
        assert (await api.call("alice", "POST", f"{RBAC}/clusterroles", agg))[0] == 201
