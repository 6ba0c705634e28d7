"""RBAC rule matching, forbidden messages, escalation checks and aggregation — pure functions."""

from __future__ import annotations

from typing import Any

from tugboat.apiserver.authz.aggregation import aggregate_rules
from tugboat.apiserver.authz.attrs import Attrs, Decision, forbidden_message
from tugboat.apiserver.authz.escalation import compact, compact_string, missing_rules
from tugboat.apiserver.authz.rbac import RBACAuthorizer, rule_allows
from tugboat.apiserver.request import UserInfo

Obj = dict[str, Any]
ALICE = UserInfo("alice", ("dev", "system:authenticated"))


def res(verb: str, resource: str, ns: str = "", group: str = "", sub: str = "", name: str = "") -> Attrs:
    return Attrs(ALICE, verb, True, ns, group, resource, sub, name)


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> Obj:
    r: Obj = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if names:
        r["resourceNames"] = names
    return r


def test_rule_matches_verb_group_resource() -> None:
    r = rule(["get", "list"], [""], ["pods"])
    assert rule_allows(res("list", "pods", "default"), r)
    assert not rule_allows(res("delete", "pods", "default"), r)
    assert not rule_allows(res("list", "pods", group="apps"), r)
    assert not rule_allows(res("list", "secrets"), r)


def test_subresources_need_their_own_rule() -> None:
    r = rule(["get"], [""], ["pods"])
    assert not rule_allows(res("get", "pods", "d", sub="log", name="p"), r)
    assert rule_allows(res("get", "pods", "d", sub="log", name="p"), rule(["get"], [""], ["pods/log"]))
    scale = rule(["update"], ["*"], ["*/scale"])
    assert rule_allows(res("update", "deployments", "d", "apps", "scale", "web"), scale)
    assert not rule_allows(res("update", "deployments", "d", "apps", "", "web"), scale)


def test_wildcards_and_resource_names() -> None:
    assert rule_allows(res("deletecollection", "widgets", "x", "example.com"), rule(["*"], ["*"], ["*"]))
    named = rule(["get", "update"], [""], ["configmaps"], ["cfg"])
    assert rule_allows(res("get", "configmaps", "d", name="cfg"), named)
    assert not rule_allows(res("get", "configmaps", "d", name="other"), named)
    assert not rule_allows(res("list", "configmaps", "d"), named)  # a list has no name


def test_non_resource_urls_with_star_suffix() -> None:
    r = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    path = lambda p: Attrs(ALICE, "get", False, path=p)  # noqa: E731
    assert rule_allows(path("/healthz"), r)
    assert rule_allows(path("/apis/apps/v1"), r)
    assert not rule_allows(path("/healthz/etcd"), r)
    assert not rule_allows(Attrs(ALICE, "post", False, path="/healthz"), r)
    assert not rule_allows(res("get", "pods"), r)  # URL rules never grant resources


def test_forbidden_messages_match_upstream() -> None:
    assert forbidden_message(res("list", "pods", "default")) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(res("get", "nodes", name="n1")) == (
        'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope')
    assert forbidden_message(res("create", "pods", "d", sub="exec", name="p")) == (
        'pods "p" is forbidden: User "alice" cannot create resource "pods/exec" in API group "" in the namespace "d"')
    assert forbidden_message(res("list", "deployments", "d", "apps")) == (
        'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" '
        'in the namespace "d"')
    assert forbidden_message(Attrs(ALICE, "get", False, path="/metrics")) == (
        'forbidden: User "alice" cannot get path "/metrics"')


class Policy:
    def __init__(self, crbs: list[Obj], rbs: list[Obj], croles: dict[str, Obj], roles: dict[tuple[str, str], Obj]):
        self.crbs, self.rbs, self.croles, self.roles = crbs, rbs, croles, roles

    def cluster_role_bindings(self) -> list[Obj]:
        return self.crbs

    def role_bindings(self, namespace: str) -> list[Obj]:
        return [b for b in self.rbs if b["metadata"]["namespace"] == namespace]

    def cluster_role(self, name: str) -> Obj | None:
        return self.croles.get(name)

    def role(self, namespace: str, name: str) -> Obj | None:
        return self.roles.get((namespace, name))


def binding(kind: str, name: str, ref_kind: str, ref: str, subjects: list[Obj], ns: str = "") -> Obj:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "metadata": meta, "roleRef": {"kind": ref_kind, "name": ref}, "subjects": subjects}


def test_rolebinding_to_clusterrole_is_scoped_to_its_namespace() -> None:
    reader = {"rules": [rule(["get", "list"], [""], ["pods"])]}
    pol = Policy([], [binding("RoleBinding", "b", "ClusterRole", "reader", [{"kind": "User", "name": "alice"}], "dev")],
                 {"reader": reader}, {})
    authz = RBACAuthorizer(pol)
    assert authz.decide(res("list", "pods", "dev"))[0] is Decision.ALLOW
    assert authz.decide(res("list", "pods", "prod"))[0] is Decision.NO_OPINION
    assert authz.decide(res("list", "pods"))[0] is Decision.NO_OPINION  # all namespaces = cluster scope


def test_group_and_serviceaccount_subjects() -> None:
    role = {"rules": [rule(["get"], [""], ["configmaps"])]}
    pol = Policy([binding("ClusterRoleBinding", "g", "ClusterRole", "r", [{"kind": "Group", "name": "dev"}])], [
        binding("RoleBinding", "sa", "Role", "r", [{"kind": "ServiceAccount", "name": "bot"}], "ci")],
        {"r": role}, {("ci", "r"): role})
    authz = RBACAuthorizer(pol)
    assert authz.decide(res("get", "configmaps", "any", name="x"))[0] is Decision.ALLOW  # via group dev
    bot = UserInfo("system:serviceaccount:ci:bot", ("system:serviceaccounts",))
    assert authz.decide(Attrs(bot, "get", True, "ci", "", "configmaps", "", "x"))[0] is Decision.ALLOW
    assert authz.decide(Attrs(bot, "get", True, "other", "", "configmaps", "", "x"))[0] is Decision.NO_OPINION


def test_missing_rules_are_reported_compacted_like_upstream() -> None:
    held = [rule(["get", "list"], [""], ["pods"]), rule(["*"], ["apps"], ["deployments"], None)]
    wanted = [rule(["get", "list", "watch"], [""], ["pods", "secrets"]), rule(["update"], ["apps"], ["deployments"])]
    missing = missing_rules(held, wanted)
    assert [compact_string(r) for r in compact(missing)] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["watch"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}',
    ]
    assert missing_rules([rule(["*"], ["*"], ["*"])], wanted) == []
    # a holder limited to one name cannot grant the resource unrestricted
    assert missing_rules([rule(["get"], [""], ["secrets"], ["a"])], [rule(["get"], [""], ["secrets"])])
    assert not missing_rules([{"verbs": ["get"], "nonResourceURLs": ["/logs/*"]}],
                             [{"verbs": ["get"], "nonResourceURLs": ["/logs/app"]}])


def test_aggregation_unions_matching_roles_sorted_by_name() -> None:
    agg = {"metadata": {"name": "view"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"agg": "view"}}]}}
    a = {"metadata": {"name": "b-role", "labels": {"agg": "view"}}, "rules": [rule(["get"], [""], ["pods"])]}
    b = {"metadata": {"name": "a-role", "labels": {"agg": "view"}},
         "rules": [rule(["list"], [""], ["pods"]), rule(["get"], [""], ["pods"])]}
    c = {"metadata": {"name": "other", "labels": {"agg": "edit"}}, "rules": [rule(["delete"], [""], ["pods"])]}
    assert aggregate_rules(agg, [agg, a, b, c]) == [rule(["list"], [""], ["pods"]), rule(["get"], [""], ["pods"])]
