"""Rows for networking, RBAC, storage, scheduling, coordination, discovery and autoscaling kinds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..selectors import format_label_selector
from .util import AGE, NAME, Cells, Column, D, Obj, age, dig, list_with_more, meta, name, printer


@printer("networking.k8s.io", "Ingress", [
    NAME,
    Column("Class", description="The name of the IngressClass resource that should be used for additional "
                                "configuration"),
    Column("Hosts", description="Hosts that incoming requests are matched against before the ingress rule"),
    Column("Address", description="Address is a list containing ingress points for the load-balancer"),
    Column("Ports", description="Ports of TLS configurations that open"),
    AGE,
])
def ingress_cells(obj: Obj, now: datetime) -> Cells:
    spec = obj.get("spec") or {}
    rules = spec.get("rules") or []
    hosts = [r["host"] for r in rules if r.get("host")][:3]
    host_s = ",".join(hosts) if hosts else "*"
    if len(rules) > 3 and hosts:
        host_s = f"{host_s} + {len(rules) - 3} more..."
    addrs = sorted({i.get("ip") or i.get("hostname") for i in dig(obj, "status", "loadBalancer", "ingress", default=[])
                    if i.get("ip") or i.get("hostname")})
    return [name(obj), spec.get("ingressClassName") or "<none>", host_s, ",".join(addrs),
            "80, 443" if spec.get("tls") else "80", age(obj, now)]


@printer("networking.k8s.io", "IngressClass", [
    NAME,
    Column("Controller", description="Controller that is responsible for handling this class"),
    Column("Parameters", description="A reference to a resource with additional parameters"),
    AGE,
])
def ingress_class_cells(obj: Obj, now: datetime) -> Cells:
    p = dig(obj, "spec", "parameters")
    params = "<none>"
    if p:
        params = str(p.get("kind", "")) + (f".{p['apiGroup']}" if p.get("apiGroup") else "") + "/" + str(p.get("name", ""))
    return [name(obj), dig(obj, "spec", "controller", default=""), params, age(obj, now)]


@printer("networking.k8s.io", "NetworkPolicy", [
    NAME, Column("Pod-Selector", description=D("networking.v1.NetworkPolicySpec", "podSelector")), AGE,
])
def netpol_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), format_label_selector(dig(obj, "spec", "podSelector", default={})), age(obj, now)]


def subjects(subs: Any) -> tuple[str, str, str]:
    users, groups, sas = [], [], []
    for s in subs or []:
        kind = s.get("kind")
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
        elif kind == "User":
            users.append(str(s.get("name", "")))
        elif kind == "Group":
            groups.append(str(s.get("name", "")))
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def _binding_columns(what: str) -> list[Column]:
    return [
        NAME,
        Column("Role", description=D(f"rbac.v1.{what}", "roleRef")),
        AGE,
        Column("Users", description=f"Users in the {what[0].lower() + what[1:]}", priority=1),
        Column("Groups", description=f"Groups in the {what[0].lower() + what[1:]}", priority=1),
        Column("ServiceAccounts", description=f"ServiceAccounts in the {what[0].lower() + what[1:]}", priority=1),
    ]


def _binding_cells(obj: Obj, now: datetime) -> Cells:
    ref = obj.get("roleRef") or {}
    return [name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(obj, now), *subjects(obj.get("subjects"))]


printer("rbac.authorization.k8s.io", "RoleBinding", _binding_columns("RoleBinding"))(_binding_cells)
printer("rbac.authorization.k8s.io", "ClusterRoleBinding", _binding_columns("ClusterRoleBinding"))(_binding_cells)


@printer("storage.k8s.io", "StorageClass", [
    NAME,
    Column("Provisioner", description=D("storage.v1.StorageClass", "provisioner")),
    Column("ReclaimPolicy", description=D("storage.v1.StorageClass", "reclaimPolicy")),
    Column("VolumeBindingMode", description=D("storage.v1.StorageClass", "volumeBindingMode")),
    Column("AllowVolumeExpansion", description=D("storage.v1.StorageClass", "allowVolumeExpansion")),
    AGE,
])
def storage_class_cells(obj: Obj, now: datetime) -> Cells:
    ann = meta(obj).get("annotations") or {}
    n = name(obj)
    if ann.get("storageclass.kubernetes.io/is-default-class") == "true" or \
            ann.get("storageclass.beta.kubernetes.io/is-default-class") == "true":
        n += " (default)"
    return [n, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion") or False),
            age(obj, now)]


@printer("scheduling.k8s.io", "PriorityClass", [
    NAME,
    Column("Value", "integer", D("scheduling.v1.PriorityClass", "value")),
    Column("Global-Default", "boolean", D("scheduling.v1.PriorityClass", "globalDefault")),
    AGE,
    Column("PreemptionPolicy", description=D("scheduling.v1.PriorityClass", "preemptionPolicy")),
])
def priority_class_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), int(obj.get("value") or 0), bool(obj.get("globalDefault") or False), age(obj, now),
            obj.get("preemptionPolicy") or "<unset>"]


@printer("coordination.k8s.io", "Lease", [
    NAME, Column("Holder", description=D("coordination.v1.LeaseSpec", "holderIdentity")), AGE,
])
def lease_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), dig(obj, "spec", "holderIdentity", default=""), age(obj, now)]


@printer("discovery.k8s.io", "EndpointSlice", [
    NAME,
    Column("AddressType", description=D("discovery.v1.EndpointSlice", "addressType")),
    Column("Ports", description=D("discovery.v1.EndpointSlice", "ports")),
    Column("Endpoints", description=D("discovery.v1.EndpointSlice", "endpoints")),
    AGE,
])
def endpoint_slice_cells(obj: Obj, now: datetime) -> Cells:
    ports = [str(p["port"]) if p.get("port") is not None else str(p.get("name") or "*") for p in obj.get("ports") or []]
    addrs = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [name(obj), obj.get("addressType", ""), list_with_more(ports, len(ports), 3),
            list_with_more(addrs, len(addrs), 3), age(obj, now)]


def _metric_target(spec: Obj, status: Obj | None, key: str) -> str:
    src, cur = spec.get(key) or {}, (status or {}).get(key)
    target = src.get("target") or {}
    current = (cur or {}).get("current") or {}
    # resource metrics name the resource (`cpu: 12%/80%`), as upstream's printer does since 1.27
    prefix = f"{src.get('name', '')}: " if key in ("resource", "containerResource") else ""
    if target.get("averageValue") is not None:
        now_v = current.get("averageValue") if cur is not None and current.get("averageValue") is not None \
            else "<unknown>"
        suffix = " (avg)" if key in ("external", "object") else ""
        return f"{prefix}{now_v}/{target['averageValue']}{suffix}"
    if key in ("resource", "containerResource"):
        now_v = f"{current['averageUtilization']}%" if current.get("averageUtilization") is not None else "<unknown>"
        tgt = f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None else "<auto>"
        return f"{prefix}{now_v}/{tgt}"
    now_v = str(current.get("value")) if cur is not None and current.get("value") is not None else "<unknown>"
    return f"{now_v}/{target.get('value')}"


_METRIC_KEYS = {"External": "external", "Pods": "pods", "Object": "object", "Resource": "resource",
                "ContainerResource": "containerResource"}


def hpa_targets(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    if "targetCPUUtilizationPercentage" in spec or "metrics" not in spec and dig(obj, "apiVersion") == "autoscaling/v1":
        tgt = spec.get("targetCPUUtilizationPercentage")
        if tgt is None:
            return "<none>"
        cur = dig(obj, "status", "currentCPUUtilizationPercentage")
        return f"{'<unknown>' if cur is None else str(cur) + '%'}/{tgt}%"
    metrics = spec.get("metrics") or []
    if not metrics:
        return "<none>"
    statuses = dig(obj, "status", "currentMetrics", default=[])
    out = []
    for i, m in enumerate(metrics):
        key = _METRIC_KEYS.get(m.get("type", ""))
        if key is None:
            out.append("<unknown type>")
            continue
        st = statuses[i] if i < len(statuses) else None
        out.append(_metric_target(m, st, key))
    ret = ", ".join(out[:2])
    return f"{ret} + {len(out) - 2} more..." if len(out) > 2 else ret


@printer("autoscaling", "HorizontalPodAutoscaler", [
    NAME,
    Column("Reference", description=D("autoscaling.v2.HorizontalPodAutoscalerSpec", "scaleTargetRef")),
    Column("Targets", description=D("autoscaling.v2.HorizontalPodAutoscalerSpec", "metrics")),
    Column("MinPods", description=D("autoscaling.v2.HorizontalPodAutoscalerSpec", "minReplicas")),
    Column("MaxPods", description=D("autoscaling.v2.HorizontalPodAutoscalerSpec", "maxReplicas")),
    Column("Replicas", description=D("autoscaling.v2.HorizontalPodAutoscalerStatus", "currentReplicas")),
    AGE,
])
def hpa_cells(obj: Obj, now: datetime) -> Cells:
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    mn = spec.get("minReplicas")
    return [name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", hpa_targets(obj),
            "<unset>" if mn is None else str(mn), int(spec.get("maxReplicas") or 0),
            int(dig(obj, "status", "currentReplicas", default=0)), age(obj, now)]


@printer("certificates.k8s.io", "CertificateSigningRequest", [
    NAME, AGE,
    Column("SignerName", description=D("certificates.v1.CertificateSigningRequestSpec", "signerName")),
    Column("Requestor", description=D("certificates.v1.CertificateSigningRequestSpec", "request")),
    Column("RequestedDuration", description=D("certificates.v1.CertificateSigningRequestSpec", "expirationSeconds")),
    Column("Condition", description=D("certificates.v1.CertificateSigningRequestStatus", "conditions")),
])
def csr_cells(obj: Obj, now: datetime) -> Cells:
    from .util import human_duration

    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or [] if isinstance(c, dict)}
    cond = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        cond += ",Failed"
    if status.get("certificate"):
        cond += ",Issued"
    exp = spec.get("expirationSeconds")
    return [name(obj), age(obj, now), spec.get("signerName") or "<none>", spec.get("username") or "",
            human_duration(exp) if isinstance(exp, int) else "<none>", cond]
