"""kubectl apply, client-side and server-side, with the real kubectl (OpenAPI-validated)."""

from __future__ import annotations

import json

import pytest

from .conftest import TugServer

pytestmark = pytest.mark.e2e

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


def test_apply_created_unchanged_configured(tug: TugServer, ns: str) -> None:
    first = tug.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOY).stdout.splitlines()
    assert first == ["deployment.apps/web created", "service/web created"]
    again = tug.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOY).stdout.splitlines()
    assert again == ["deployment.apps/web unchanged", "service/web unchanged"]
    changed = DEPLOY.replace("replicas: 2", "replicas: 3")
    third = tug.kubectl("-n", ns, "apply", "-f", "-", input=changed).stdout.splitlines()
    assert third == ["deployment.apps/web configured", "service/web unchanged"]
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "web", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in d["metadata"]["annotations"]
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"  # server-side default
    svc = json.loads(tug.kubectl("-n", ns, "get", "svc", "web", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"].startswith("10.")
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"][0]["protocol"] == "TCP"


def test_apply_removes_fields_dropped_from_manifest(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "apply", "-f", "-", input=DEPLOY)
    dropped = DEPLOY.replace("  labels: {app: web}\nspec:\n  replicas: 2", "spec:\n  replicas: 2", 1)
    tug.kubectl("-n", ns, "apply", "-f", "-", input=dropped)
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "web", "-o", "json").stdout)
    assert "app" not in (d["metadata"].get("labels") or {})


def test_apply_strict_validation_rejects_unknown_field(tug: TugServer, ns: str) -> None:
    bad = DEPLOY.replace("replicas: 2", "replicas: 2\n  replicaz: 3")
    p = tug.kubectl("-n", ns, "apply", "-f", "-", input=bad, check=False)
    assert p.returncode != 0
    assert 'unknown field "spec.replicaz"' in p.stderr


def test_server_side_apply_and_conflict(tug: TugServer, ns: str) -> None:
    out = tug.kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=DEPLOY).stdout.splitlines()
    assert out == ["deployment.apps/web serverside-applied", "service/web serverside-applied"]
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    managers = {(m["manager"], m["operation"]) for m in d["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    # Another manager takes spec.replicas ...
    tug.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=5")
    # ... so re-applying the old value conflicts, and --force-conflicts wins it back.
    p = tug.kubectl("-n", ns, "apply", "--server-side", "-f", "-", input=DEPLOY, check=False)
    assert p.returncode != 0
    assert "conflict" in p.stderr.lower() and ".spec.replicas" in p.stderr
    tug.kubectl("-n", ns, "apply", "--server-side", "--force-conflicts", "-f", "-", input=DEPLOY)
    d = json.loads(tug.kubectl("-n", ns, "get", "deploy", "web", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 2


def test_explain(tug: TugServer) -> None:
    out = tug.kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:" in out and "Deployment" in out
    assert "Number of desired pods" in out
    out = tug.kubectl("explain", "pods.spec.containers").stdout
    assert "FIELD: containers" in out


def test_delete_cascade_flags_are_accepted(tug: TugServer, ns: str) -> None:
    tug.kubectl("-n", ns, "create", "deployment", "c1", "--image=busybox")
    tug.kubectl("-n", ns, "create", "deployment", "c2", "--image=busybox")
    out = tug.kubectl("-n", ns, "delete", "deployment", "c1", "--cascade=orphan").stdout.strip()
    assert out == 'deployment.apps "c1" deleted'
    out = tug.kubectl("-n", ns, "delete", "deployment", "c2", "--cascade=background").stdout.strip()
    assert out == 'deployment.apps "c2" deleted'
    left = tug.kubectl("-n", ns, "get", "deployments", "-o", "name").stdout.split()
    assert left == []
