"""HorizontalPodAutoscaler end to end: real containers burn CPU, the node agent's stats feed
metrics.k8s.io, the HPA controller scales the Deployment out, and back in when the load stops.

The load is switched by a ConfigMap (mounted, refreshed by the agent's periodic sync): each
replica spins while the file says `on` — capped by a 200m CPU limit so three replicas cost
0.6 of a core — and idles otherwise.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.e2e.realnode import real_node

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

SCRIPT = ('while true; do read -r l < /load/state; if [ "$l" = on ]; then i=0; '
          'while [ $i -lt 20000 ]; do i=$((i+1)); done; else sleep 1; fi; done')


def _deployment(node_name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "burn"}},
                     "template": {"metadata": {"labels": {"app": "burn"}}, "spec": {
                         "nodeName": node_name, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", SCRIPT],
                                         "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}},
                                         "volumeMounts": [{"name": "load", "mountPath": "/load"}]}],
                         "volumes": [{"name": "load", "configMap": {"name": "load"}}]}}}}


def _wait(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def test_hpa_scales_out_under_cpu_load_and_back_in():
    args = ["--horizontal-pod-autoscaler-sync-period", "3",
            "--horizontal-pod-autoscaler-downscale-stabilization", "0"]
    with real_node(server_args=args, own_netns_only=True) as node:
        ns = node.new_namespace()
        node.kubectl("-n", ns, "create", "configmap", "load", "--from-literal=state=on")
        node.kubectl("-n", ns, "create", "-f", "-", input=orjson.dumps(_deployment(node.node_name)).decode())
        node.kubectl("-n", ns, "autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=3")

        def replicas() -> int:
            d = node.get(f"/apis/apps/v1/namespaces/{ns}/deployments/burn") or {}
            return int(d.get("spec", {}).get("replicas", 0))

        def hpa() -> dict[str, Any]:
            return node.get(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/burn") or {}

        _wait(lambda: replicas() == 3, 150, f"scale out to 3 (hpa: {hpa().get('status')})")
        status = hpa()["status"]
        util = status["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
        assert util > 50, status
        out = node.kubectl("-n", ns, "get", "hpa", "burn").stdout
        assert "cpu: " in out and "%/50%" in out and "Deployment/burn" in out, out
        # the metrics API the HPA reads is the one `kubectl top` shows
        top = node.kubectl("-n", ns, "top", "pods").stdout
        assert "burn-" in top, top

        node.kubectl("-n", ns, "patch", "configmap", "load", "-p", '{"data":{"state":"off"}}')
        _wait(lambda: replicas() == 1, 150, f"scale in to 1 (hpa: {hpa().get('status')})")
        reasons = [e["message"] for e in node.events(ns, "burn") if e["reason"] == "SuccessfulRescale"]
        assert any("above target" in m for m in reasons) and any("below target" in m for m in reasons), reasons
        # the node's teardown deletes pods; the Deployment would bring them back, so it goes first
        node.kubectl("-n", ns, "delete", "hpa,deployment", "--all", "--cascade=foreground", "--wait=true",
                     timeout=120)
        _wait(lambda: not (node.get(f"/api/v1/namespaces/{ns}/pods") or {}).get("items"), 90, "pods gone")
