"""Default roles reconciled at start (autoupdate) and ClusterRole aggregation in the server."""

from __future__ import annotations

from typing import Any

from tests.support.wait import eventually
from tugboat.store.memory import MemoryBackend

from .helpers import rbac_server

CR = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
CRB = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


async def test_defaults_are_restored_at_start_unless_opted_out() -> None:
    backend = MemoryBackend()
    await backend.start()
    try:
        async with rbac_server(backend) as (_, api):
            code, basic = await api.call("admin", "GET", f"{CR}/system:basic-user")
            assert code == 200
            assert basic["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] == "true"
            want_rules = basic["rules"]
            basic["rules"] = basic["rules"][:1]
            assert (await api.call("admin", "PUT", f"{CR}/system:basic-user", basic))[0] == 200
            _, disc = await api.call("admin", "GET", f"{CR}/system:discovery")
            disc["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false"
            disc["rules"] = [{"verbs": ["get"], "nonResourceURLs": ["/version"]}]
            assert (await api.call("admin", "PUT", f"{CR}/system:discovery", disc))[0] == 200
            assert (await api.call("admin", "DELETE", f"{CRB}/system:kube-scheduler"))[0] == 200
        async with rbac_server(backend) as (_, api):
            _, basic = await api.call("admin", "GET", f"{CR}/system:basic-user")
            assert basic["rules"] == want_rules
            _, disc = await api.call("admin", "GET", f"{CR}/system:discovery")
            assert disc["rules"] == [{"verbs": ["get"], "nonResourceURLs": ["/version"]}]
            code, crb = await api.call("admin", "GET", f"{CRB}/system:kube-scheduler")
            assert code == 200 and crb["subjects"] == [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "system:kube-scheduler"}]
    finally:
        await backend.close()


async def test_aggregation_follows_labelled_roles() -> None:
    async with rbac_server() as (_, api):
        widgets = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "widget-viewer", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                "rules": [widgets]}
        assert (await api.call("admin", "POST", CR, role))[0] == 201

        async def has(name: str, rule: Any) -> bool:
            _, r = await api.call("admin", "GET", f"{CR}/{name}")
            return rule in (r.get("rules") or [])
        for name in ("view", "edit", "admin"):  # view is aggregated into edit, edit into admin
            await eventually(lambda n=name: has(n, widgets), 20, f"{name} aggregates widgets")  # type: ignore[misc]
        assert (await api.call("admin", "DELETE", f"{CR}/widget-viewer"))[0] == 200

        async def gone() -> bool:
            return not await has("admin", widgets)
        await eventually(gone, 20, "admin drops widgets")
        _, view = await api.call("admin", "GET", f"{CR}/view")
        assert any("pods/log" in r.get("resources", []) for r in view["rules"])
        assert not any("secrets" in r.get("resources", []) for r in view["rules"])


async def test_namespaced_defaults_grant_leader_election_locks() -> None:
    async with rbac_server() as (_, api):
        path = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/system::leader-locking-kube-scheduler"
        code, rb = await api.call("admin", "GET", path)
        assert code == 200 and rb["roleRef"]["name"] == "system::leader-locking-kube-scheduler"

        async def may(ns: str) -> bool:
            sar = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                   "spec": {"user": "system:kube-scheduler", "groups": ["system:authenticated"],
                            "resourceAttributes": {"namespace": ns, "verb": "update", "group": "coordination.k8s.io",
                                                   "resource": "leases", "name": "some-lock"}}}
            _, out = await api.call("admin", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar)
            return bool(out["status"]["allowed"])
        assert await may("kube-system")
        assert not await may("default")
