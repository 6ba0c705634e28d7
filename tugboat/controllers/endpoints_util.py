"""What the Endpoints and EndpointSlice controllers agree on: which pods back a Service.

Both controllers must pick the same pods, resolve named target ports the same way and treat
readiness the same way, or kube-proxy and DNS (which read slices) would disagree with clients
that read Endpoints. Upstream 1.32: pkg/controller/util/endpoint (ShouldPodBeInEndpoints,
FindPort) and pkg/api/v1/pod (IsPodReady).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def should_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """A pod with an IP that has not finished (and is not being deleted, unless asked)."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if not include_terminating and pod["metadata"].get("deletionTimestamp"):
        return False
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    phase = status.get("phase")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def pod_ipv4(pod: Obj) -> str | None:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or () if p.get("ip")] or [status.get("podIP")]
    for ip in ips:
        if ip and ":" not in ip:
            return str(ip)
    return None


def find_port(pod: Obj, svc_port: Obj) -> int | None:
    """The container port a service port targets on this pod (named ports resolve per pod)."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = svc_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def selects(svc: Obj, pod: Obj) -> bool:
    sel = (svc.get("spec") or {}).get("selector") or {}
    if not sel:
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in sel.items())


def managed_service(svc: Obj) -> bool:
    """Services with a selector, except default/kubernetes (the API server writes that one)."""
    meta = svc["metadata"]
    if meta.get("namespace") == "default" and meta.get("name") == "kubernetes":
        return False
    return bool((svc.get("spec") or {}).get("selector"))


def hostname(pod: Obj, svc: Obj) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"] \
            and pod["metadata"].get("namespace") == svc["metadata"].get("namespace"):
        return str(spec["hostname"])
    return None


def target_ref(pod: Obj) -> Obj:
    m = pod["metadata"]
    return {"kind": "Pod", "namespace": m["namespace"], "name": m["name"], "uid": m.get("uid", "")}


def service_labels(svc: Obj) -> dict[str, str]:
    labels = dict(svc["metadata"].get("labels") or {})
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


def pod_fingerprint(pod: Obj) -> tuple[Any, ...]:
    """The pod fields endpoints depend on: an update that changes none of them is ignored."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod["metadata"]
    ports = [(p.get("name"), p.get("containerPort"), p.get("protocol"))
             for c in spec.get("containers") or () for p in c.get("ports") or ()]
    return (meta.get("labels"), meta.get("deletionTimestamp"), status.get("podIP"), status.get("phase"),
            pod_ready(pod), spec.get("nodeName"), spec.get("hostname"), spec.get("subdomain"), ports)
