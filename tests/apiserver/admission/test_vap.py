"""ValidatingAdmissionPolicy: CEL validations bound to resources, Deny/Warn actions, params."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.client.errors import ApiStatusError

VAP = rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies")
VAPB = rt("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings")
DEPLOY = rt("apps", "v1", "deployments")
CM = rt("", "v1", "configmaps")
NS = rt("", "v1", "namespaces")


def policy(name: str, validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                             "operations": ["CREATE", "UPDATE"],
                                                             "resources": ["deployments"]}]},
                     "validations": validations, **spec}}


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": actions, **spec}}


def deploy(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": name}},
                     "template": {"metadata": {"labels": {"a": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_deny_binding_refuses_with_policy_message() -> None:
    async with running_apiserver() as (_srv, client):
        await client.create(VAP, policy("max-replicas", [{"expression": "object.spec.replicas <= 5"}]))
        await client.create(VAPB, binding("max-replicas-b", "max-replicas", ["Deny"]))
        with pytest.raises(ApiStatusError) as ei:
            await client.create(DEPLOY, deploy("big", 7), "default")
        assert ei.value.code == 422
        assert ei.value.message == ("ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-b' denied "
                                    "request: failed expression: object.spec.replicas <= 5")
        await client.create(DEPLOY, deploy("small", 3), "default")


async def test_message_expression_reason_and_namespace_selector() -> None:
    async with running_apiserver() as (_srv, client):
        await client.create(NS, {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": "prod", "labels": {"env": "prod"}}})
        await client.create(VAP, policy("p", [{"expression": "object.spec.replicas >= 2", "reason": "Forbidden",
                                               "messageExpression": "'prod needs 2+ replicas, got ' + "
                                                                    "string(object.spec.replicas)"}]))
        await client.create(VAPB, binding("b", "p", ["Deny"], matchResources={
            "namespaceSelector": {"matchLabels": {"env": "prod"}}}))
        await client.create(DEPLOY, deploy("one", 1), "default")  # not selected
        with pytest.raises(ApiStatusError) as ei:
            await client.create(DEPLOY, deploy("one", 1), "prod")
        assert ei.value.code == 403
        assert ei.value.message.endswith("denied request: prod needs 2+ replicas, got 1")


async def test_warn_action_and_params() -> None:
    async with running_apiserver() as (_srv, client):
        await client.create(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits"},
                                 "data": {"max": "4"}}, "default")
        await client.create(VAP, policy("param", [{"expression": "object.spec.replicas <= int(params.data.max)",
                                                   "message": "too many replicas"}],
                                        paramKind={"apiVersion": "v1", "kind": "ConfigMap"}))
        await client.create(VAPB, binding("warn", "param", ["Warn"],
                                          paramRef={"name": "limits", "namespace": "default",
                                                    "parameterNotFoundAction": "Deny"}))
        base = str(client.config.server)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(base_url=base) as h:
            r = await h.post("/apis/apps/v1/namespaces/default/deployments", json=deploy("d", 6))
        assert r.status_code == 201, r.text
        assert "Validation failed for ValidatingAdmissionPolicy 'param' with binding 'warn': too many replicas" in \
            r.headers.get("Warning", "").replace('\\"', '"')


async def test_invalid_cel_and_binding_are_refused() -> None:
    async with running_apiserver() as (_srv, client):
        with pytest.raises(ApiStatusError) as ei:
            await client.create(VAP, policy("bad", [{"expression": "object.spec.((("}]))
        assert ei.value.code == 422 and "spec.validations[0].expression" in ei.value.message
        with pytest.raises(ApiStatusError) as ei:
            await client.create(VAPB, binding("b", "x", ["Deny", "Warn"]))
        assert ei.value.code == 422


async def test_expression_error_follows_failure_policy() -> None:
    async with running_apiserver() as (_srv, client):
        await client.create(VAP, policy("ign", [{"expression": "object.spec.nope > 1"}], failurePolicy="Ignore"))
        await client.create(VAPB, binding("ign-b", "ign", ["Deny"]))
        await client.create(DEPLOY, deploy("ok", 1), "default")
        await client.create(VAP, policy("fail", [{"expression": "object.spec.nope > 1"}]))
        await client.create(VAPB, binding("fail-b", "fail", ["Deny"]))
        with pytest.raises(ApiStatusError) as ei:
            await client.create(DEPLOY, deploy("no", 1), "default")
        assert "ValidatingAdmissionPolicy 'fail' with binding 'fail-b' denied request: expression failed" \
            in ei.value.message
