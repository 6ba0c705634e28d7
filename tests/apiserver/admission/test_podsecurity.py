"""PodSecurity admission: namespace labels enforce/warn the levels with upstream's messages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.apiserver.admission_podsecurity import LevelVersion, PodSecurityConfig, evaluate
from tugboat.apiserver.admission_podsecurity.policy import policy_for
from tugboat.client.errors import ApiStatusError

NS = rt("", "v1", "namespaces")
PODS = rt("", "v1", "pods")
DEPLOY = rt("apps", "v1", "deployments")


def pod(name: str, sc: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    if sc is not None:
        c["securityContext"] = sc
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c], **spec}}


GOOD_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
           "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_DEFAULT_POD = (
    'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set '
    'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set '
    'securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set '
    'securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set '
    'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')


def warning_text(r: httpx.Response) -> str:
    """The Warning headers' texts (RFC 7234 quoted-strings, unescaped)."""
    return " | ".join(h.replace('\\"', '"') for h in r.headers.get_list("Warning"))


async def labelled_ns(client: Any, name: str, **labels: str) -> None:
    await client.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name, "labels": {f"pod-security.kubernetes.io/{k.replace('_', '-')}": v
                                 for k, v in labels.items()}}})


async def test_restricted_namespace_refuses_default_pod_with_upstream_message() -> None:
    async with running_apiserver() as (_srv, client):
        await labelled_ns(client, "r", enforce="restricted")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("p"), "r")
        assert ei.value.code == 403
        assert ei.value.message == f'pods "p" is forbidden: {RESTRICTED_DEFAULT_POD}'
        ok = await client.create(PODS, pod("ok", GOOD_SC), "r")
        assert ok["metadata"]["name"] == "ok"


@pytest.mark.parametrize("spec, sc, expect", [
    ({"hostNetwork": True}, GOOD_SC, "host namespaces (hostNetwork=true)"),
    ({}, {**GOOD_SC, "privileged": True}, 'privileged (container "c" must not set securityContext.privileged=true)'),
    ({}, {**GOOD_SC, "runAsUser": 0}, 'runAsUser=0 (container "c" must not set runAsUser=0)'),
    ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, GOOD_SC,
     'hostPath volumes (volume "h"), restricted volume types (volume "h" uses restricted volume type "hostPath")'),
])
async def test_restricted_refuses_each_escape(spec: dict[str, Any], sc: dict[str, Any], expect: str) -> None:
    async with running_apiserver() as (_srv, client):
        await labelled_ns(client, "r", enforce="restricted")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(PODS, pod("p", sc, **spec), "r")
        assert ei.value.message == f'pods "p" is forbidden: violates PodSecurity "restricted:latest": {expect}'


async def test_deployment_in_restricted_namespace_is_admitted_with_warning() -> None:
    async with running_apiserver() as (srv, client):
        await labelled_ns(client, "r", enforce="restricted")  # warn follows the stricter enforce level
        base = str(client.config.server)  # type: ignore[attr-defined]
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]}}}}
        async with httpx.AsyncClient(base_url=base) as h:
            r = await h.post("/apis/apps/v1/namespaces/r/deployments", json=body)
        assert r.status_code == 201, r.text
        warning = warning_text(r)
        assert 'would violate PodSecurity "restricted:latest": privileged (container "c" must not set ' \
               'securityContext.privileged=true), allowPrivilegeEscalation != false' in warning


async def test_warn_only_namespace_admits_pod_with_warning_and_baseline_allows_restricted_gaps() -> None:
    async with running_apiserver() as (_srv, client):
        await labelled_ns(client, "b", enforce="baseline", warn="restricted", warn_version="v1.32")
        base = str(client.config.server)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=base) as h:
            r = await h.post("/api/v1/namespaces/b/pods", json=pod("p"))
            assert r.status_code == 201, r.text
            assert 'would violate PodSecurity "restricted:v1.32": allowPrivilegeEscalation != false' in \
                warning_text(r)
            r = await h.post("/api/v1/namespaces/b/pods", json=pod("priv", {"privileged": True}))
            assert r.status_code == 403
            assert 'violates PodSecurity "baseline:latest": privileged' in r.json()["message"]


async def test_namespace_labels_validated_and_stricter_enforce_warns_about_existing_pods() -> None:
    async with running_apiserver() as (_srv, client):
        with pytest.raises(ApiStatusError) as ei:
            await labelled_ns(client, "bad", enforce="strict")
        assert ei.value.code == 422
        await labelled_ns(client, "n")
        await client.create(PODS, pod("p1"), "n")
        await client.create(PODS, pod("p2"), "n")
        base = str(client.config.server)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=base) as h:
            r = await h.patch("/api/v1/namespaces/n", content=b'{"metadata":{"labels":{'
                              b'"pod-security.kubernetes.io/enforce":"restricted"}}}',
                              headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        w = warning_text(r)
        assert 'existing pods in namespace "n" violate the new PodSecurity enforce level "restricted:latest"' in w
        assert "p1 (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, " \
               "runAsNonRoot != true, seccompProfile" in w


async def test_exempt_namespace_is_not_checked() -> None:
    async with running_apiserver() as (srv, client):
        srv.pod_security.config.exempt_namespaces = ("r",)
        await labelled_ns(client, "r", enforce="restricted")
        await client.create(PODS, pod("p", {"privileged": True}), "r")


def test_baseline_checks_messages() -> None:
    spec = {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]},
                                                              "procMount": "Unmasked",
                                                              "seLinuxOptions": {"type": "spc_t"}},
                            "ports": [{"containerPort": 80, "hostPort": 8080}]}],
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}}
    assert evaluate("baseline", meta, spec) == [
        ("forbidden AppArmor profile", 'container.apparmor.security.beta.kubernetes.io/a="unconfined"'),
        ("hostPort", 'container "a" uses hostPort 8080'),
        ("procMount", 'container "a" must not set securityContext.procMount to "Unmasked"'),
        ("seLinuxOptions", 'container "a" set forbidden securityContext.seLinuxOptions: type "spc_t"'),
        ("forbidden sysctls", "kernel.msgmax"),
        ("non-default capabilities", 'container "a" must not include "NET_ADMIN" in securityContext.capabilities.add'),
    ]
    assert evaluate("privileged", meta, spec) == []


def test_policy_label_fallbacks_like_upstream() -> None:
    cfg = PodSecurityConfig()
    p = "pod-security.kubernetes.io/"
    got = policy_for({p + "enforce": "baseline", p + "enforce-version": "v1.22"}, cfg)
    assert got["enforce"] == got["warn"] == LevelVersion("baseline", "v1.22")
    assert got["audit"] == LevelVersion("privileged")
    got = policy_for({p + "enforce": "foo", p + "warn": "bar"}, cfg)  # enforce fails closed, warn open
    assert (got["enforce"], got["warn"]) == (LevelVersion("restricted"), LevelVersion("privileged"))
    got = policy_for({p + "enforce": "baseline", p + "warn": "privileged"}, cfg)
    assert got["warn"] == LevelVersion("privileged")
