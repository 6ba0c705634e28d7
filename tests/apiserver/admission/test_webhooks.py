"""Admission webhooks over real HTTPS: mutate (JSONPatch), deny with a message, failurePolicy."""

from __future__ import annotations

import base64
import socket
from typing import Any

import orjson
import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.client.errors import ApiStatusError

from .webhook_server import webhook_server

CM = rt("", "v1", "configmaps")
MWC = rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
VWC = rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")


def config(kind: str, name: str, url: str, ca: str, **hook: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "webhooks": [{"name": f"{name}.example.com", "clientConfig": {"url": url, "caBundle": ca},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                     "resources": ["configmaps"]}],
                          "sideEffects": "None", "admissionReviewVersions": ["v1"], **hook}]}


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def add_label(req: dict[str, Any]) -> dict[str, Any]:
    has_labels = bool(req["object"]["metadata"].get("labels"))
    ops = [{"op": "add", "path": "/metadata/labels/mutated", "value": "yes"}] if has_labels else \
        [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
    return {"allowed": True, "patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(ops)).decode()}


def deny_bad(req: dict[str, Any]) -> dict[str, Any]:
    if req["object"]["metadata"]["name"].startswith("bad"):
        return {"allowed": False, "status": {"code": 403, "reason": "Forbidden",
                                             "message": "configmaps named bad* are not allowed"}}
    return {"allowed": True, "warnings": ["checked by the test webhook"]}


async def test_mutating_webhook_adds_label_and_sees_admission_review() -> None:
    async with webhook_server({"/mutate": add_label}) as wh, running_apiserver() as (_srv, client):
        await client.create(MWC, config("MutatingWebhookConfiguration", "mut", wh.url("/mutate"), wh.ca_bundle))
        out = await client.create(CM, cm("c1", app="x"), "default")
        assert out["metadata"]["labels"] == {"app": "x", "mutated": "yes"}
        stored = await client.get(CM, "c1", "default")
        assert stored["metadata"]["labels"]["mutated"] == "yes"
        review = wh.reviews[-1]
        assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
        req = review["request"]
        assert req["operation"] == "CREATE" and req["namespace"] == "default" and req["name"] == "c1"
        assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
        assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
        assert req["oldObject"] is None and req["dryRun"] is False


async def test_validating_webhook_denies_with_its_message() -> None:
    async with webhook_server({"/validate": deny_bad}) as wh, running_apiserver() as (_srv, client):
        await client.create(VWC, config("ValidatingWebhookConfiguration", "val", wh.url("/validate"), wh.ca_bundle))
        with pytest.raises(ApiStatusError) as ei:
            await client.create(CM, cm("bad-one"), "default")
        assert ei.value.code == 403
        assert ei.value.message == ('admission webhook "val.example.com" denied the request: configmaps named bad* '
                                    'are not allowed')
        await client.create(CM, cm("good"), "default")
        with pytest.raises(ApiStatusError):
            await client.get(CM, "bad-one", "default")


async def test_selectors_limit_which_objects_reach_the_webhook() -> None:
    async with webhook_server({"/validate": deny_bad}) as wh, running_apiserver() as (_srv, client):
        await client.create(VWC, config("ValidatingWebhookConfiguration", "val", wh.url("/validate"), wh.ca_bundle,
                                        objectSelector={"matchLabels": {"checked": "true"}},
                                        matchConditions=[{"name": "not-exempt",
                                                          "expression": "!has(object.metadata.annotations)"}]))
        await client.create(CM, cm("bad-unlabelled"), "default")  # objectSelector skips it
        exempt = cm("bad-annotated", checked="true")
        exempt["metadata"]["annotations"] = {"x": "y"}
        await client.create(CM, exempt, "default")  # matchCondition false
        assert wh.reviews == []
        with pytest.raises(ApiStatusError):
            await client.create(CM, cm("bad-checked", checked="true"), "default")
        assert len(wh.reviews) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_failure_policy_ignore_vs_fail_when_webhook_is_down() -> None:
    url = f"https://127.0.0.1:{_closed_port()}/validate"
    async with running_apiserver() as (_srv, client):
        await client.create(VWC, config("ValidatingWebhookConfiguration", "ignore", url, "", failurePolicy="Ignore"))
        await client.create(CM, cm("passes"), "default")
        await client.create(VWC, config("ValidatingWebhookConfiguration", "fail", url, "", failurePolicy="Fail"))
        with pytest.raises(ApiStatusError) as ei:
            await client.create(CM, cm("blocked"), "default")
        assert ei.value.code == 500
        assert ei.value.message.startswith('Internal error occurred: failed calling webhook "fail.example.com": '
                                           f'failed to call webhook: Post "{url}?timeout=10s"')


async def test_webhook_config_defaults_and_validation() -> None:
    async with running_apiserver() as (_srv, client):
        out = await client.create(VWC, config("ValidatingWebhookConfiguration", "d", "https://127.0.0.1:1/", ""))
        hook = out["webhooks"][0]
        assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"]) == ("Fail", "Equivalent", 10)
        assert hook["namespaceSelector"] == {} and hook["objectSelector"] == {}
        assert hook["rules"][0]["scope"] == "*"
        bad = config("ValidatingWebhookConfiguration", "bad", "https://127.0.0.1:1/", "", sideEffects="Some")
        with pytest.raises(ApiStatusError) as ei:
            await client.create(VWC, bad)
        assert ei.value.code == 422
