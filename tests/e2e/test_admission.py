"""Admission through the real kubectl against a real `tug server`: PodSecurity, quota, webhooks, VAP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apiserver.admission.webhook_server import Webhook, webhook_server

from .conftest import TugServer

pytestmark = pytest.mark.e2e


def _until(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_privileged_pod_refused_in_restricted_namespace_but_deployment_warned(tug: TugServer, ns: str) -> None:
    tug.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    p = tug.kubectl("-n", ns, "run", "priv", "--image=busybox", "--privileged", check=False)
    assert p.returncode != 0
    assert 'pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged (container "priv" ' \
           'must not set securityContext.privileged=true)' in p.stderr
    p = tug.kubectl("-n", ns, "create", "deployment", "web", "--image=busybox")
    assert p.stdout.strip() == "deployment.apps/web created"
    assert 'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false' in p.stderr


def test_quota_blocks_the_pod_that_would_exceed_it(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "quota", "q", "--hard=pods=1")
    _until(lambda: json.loads(tug.kubectl("-n", ns, "get", "quota", "q", "-o", "json").stdout)
           .get("status", {}).get("used") == {"pods": "0"})
    tug.kubectl("-n", ns, "run", "one", "--image=busybox")
    p = tug.kubectl("-n", ns, "run", "two", "--image=busybox", check=False)
    assert p.returncode != 0
    assert 'pods "two" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1' in p.stderr


@pytest.fixture
def deny_webhook() -> Iterator[Webhook]:
    """The test webhook server on its own event loop in a thread (kubectl calls are blocking)."""
    ready = threading.Event()
    stop: dict[str, Any] = {}
    box: dict[str, Webhook] = {}

    def deny(req: dict[str, Any]) -> dict[str, Any]:
        return {"allowed": False, "status": {"code": 403, "message": "no configmaps on Fridays"}}

    async def main() -> None:
        stop["event"] = asyncio.Event()
        stop["loop"] = asyncio.get_running_loop()
        async with webhook_server({"/deny": deny}) as wh:
            box["wh"] = wh
            ready.set()
            await stop["event"].wait()
    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield box["wh"]
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        t.join(10)


def test_denying_webhook_blocks_create_with_its_message(tug: TugServer, ns: str, deny_webhook: Webhook) -> None:
    name = f"deny-{ns}"
    cfg = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": name},
           "webhooks": [{"name": "deny.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"],
                         "clientConfig": {"url": deny_webhook.url("/deny"), "caBundle": deny_webhook.ca_bundle},
                         "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                         "objectSelector": {"matchLabels": {"blocked": "yes"}},
                         "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                    "resources": ["configmaps"]}]}]}
    tug.kubectl("apply", "-f", "-", input=json.dumps(cfg))
    try:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"blocked": "yes"}}}
        p = tug.kubectl("-n", ns, "create", "-f", "-", input=json.dumps(cm), check=False)
        assert p.returncode != 0
        assert 'admission webhook "deny.example.com" denied the request: no configmaps on Fridays' in p.stderr
    finally:
        tug.kubectl("delete", "validatingwebhookconfiguration", name, check=False)


def test_validating_admission_policy_denies(tug: TugServer, ns: str) -> None:
    name = f"max-replicas-{ns}"
    pol = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
           "metadata": {"name": name},
           "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                            "operations": ["CREATE", "UPDATE"],
                                                            "resources": ["deployments"]}]},
                    "validations": [{"expression": "object.spec.replicas <= 2", "message": "at most 2 replicas"}]}}
    bind = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"],
                     "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}}}
    tug.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pol, bind]}))
    try:
        p = tug.kubectl("-n", ns, "create", "deployment", "big", "--image=busybox", "--replicas=3", check=False)
        assert p.returncode != 0
        assert f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: at most 2 replicas" \
            in p.stderr
    finally:
        tug.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, check=False)
