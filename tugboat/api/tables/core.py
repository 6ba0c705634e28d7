"""Rows for core/v1 kinds other than pods: services, nodes, namespaces, events, config and storage."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from ..selectors import format_labels
from .util import (
    AGE,
    NAME,
    Cells,
    Column,
    D,
    Obj,
    age,
    dig,
    meta,
    name,
    printer,
    quantity,
    since,
)


def _lb_ingress(status: Any, wide: bool) -> str:
    ips = sorted({i.get("ip") or i.get("hostname") for i in dig(status, "ingress", default=[])
                  if i.get("ip") or i.get("hostname")})
    r = ",".join(ips)
    if not wide and len(r) > 16:
        r = r[:13] + "..."
    return r


def service_external_ip(svc: Obj, wide: bool = True) -> str:
    spec = svc.get("spec") or {}
    typ = spec.get("type") or "ClusterIP"
    ext = spec.get("externalIPs") or []
    if typ in ("ClusterIP", "NodePort"):
        return ",".join(ext) if ext else "<none>"
    if typ == "LoadBalancer":
        lb = _lb_ingress(dig(svc, "status", "loadBalancer"), wide)
        if ext:
            return ",".join(([*lb.split(",")] if lb else []) + ext)
        return lb or "<pending>"
    if typ == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def port_string(ports: Any) -> str:
    out = []
    for p in ports or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            out.append(f"{p.get('port')}/{proto}")
    return ",".join(out)


@printer("", "Service", [
    NAME,
    Column("Type", description=D("core.v1.ServiceSpec", "type")),
    Column("Cluster-IP", description=D("core.v1.ServiceSpec", "clusterIP")),
    Column("External-IP", description=D("core.v1.ServiceSpec", "externalIPs")),
    Column("Port(s)", description=D("core.v1.ServiceSpec", "ports")),
    AGE,
    Column("Selector", description=D("core.v1.ServiceSpec", "selector"), priority=1),
])
def service_cells(obj: Obj, now: datetime) -> Cells:
    spec = obj.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    # Upstream prints with Wide=true server-side, so the LB list is never clipped here.
    return [name(obj), spec.get("type") or "ClusterIP", ips[0] if ips else "<none>", service_external_ip(obj),
            port_string(spec.get("ports")) or "<none>", age(obj, now), format_labels(spec.get("selector"))]


def _join_host_port(ip: str, port: Any) -> str:
    try:
        if isinstance(ipaddress.ip_address(ip), ipaddress.IPv6Address):
            return f"[{ip}]:{port}"
    except ValueError:
        pass
    return f"{ip}:{port}"


def format_endpoints(obj: Obj) -> str:
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    items: list[str] = []
    count = 0
    for ss in subsets:
        addrs = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            count += len(addrs)
            items.extend(a.get("ip", "") for a in addrs)
            continue
        for p in ports:
            count += len(addrs)
            items.extend(_join_host_port(a.get("ip", ""), p.get("port")) for a in addrs)
    ret = ",".join(items[:3])
    return f"{ret} + {count - 3} more..." if count > 3 else ret


@printer("", "Endpoints", [NAME, Column("Endpoints", description=D("core.v1.Endpoints", "subsets")), AGE])
def endpoints_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), format_endpoints(obj), age(obj, now)]


def node_roles(node: Obj) -> str:
    roles = set()
    for k, v in (meta(node).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/") and len(k) > len("node-role.kubernetes.io/"):
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, typ: str) -> str:
    for a in dig(node, "status", "addresses", default=[]):
        if a.get("type") == typ:
            return str(a.get("address", ""))
    return "<none>"


@printer("", "Node", [
    NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE,
    Column("Version", description=D("core.v1.NodeSystemInfo", "kubeletVersion")),
    Column("Internal-IP", description=D("core.v1.NodeStatus", "addresses"), priority=1),
    Column("External-IP", description=D("core.v1.NodeStatus", "addresses"), priority=1),
    Column("OS-Image", description=D("core.v1.NodeSystemInfo", "osImage"), priority=1),
    Column("Kernel-Version", description=D("core.v1.NodeSystemInfo", "kernelVersion"), priority=1),
    Column("Container-Runtime", description=D("core.v1.NodeSystemInfo", "containerRuntimeVersion"), priority=1),
])
def node_cells(obj: Obj, now: datetime) -> Cells:
    status: list[str] = []
    ready = {c.get("type"): c for c in dig(obj, "status", "conditions", default=[])}.get("Ready")
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if dig(obj, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = dig(obj, "status", "nodeInfo", default={})
    return [name(obj), ",".join(status), node_roles(obj), age(obj, now), info.get("kubeletVersion", ""),
            _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


@printer("", "Namespace", [NAME, Column("Status", description="The status of the namespace"), AGE])
def namespace_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), dig(obj, "status", "phase", default=""), age(obj, now)]


EVENT_COLUMNS = [
    Column("Last Seen", description=D("core.v1.Event", "lastTimestamp")),
    Column("Type", description=D("core.v1.Event", "type")),
    Column("Reason", description=D("core.v1.Event", "reason")),
    Column("Object", description=D("core.v1.Event", "involvedObject")),
    Column("Subobject", description=D("core.v1.ObjectReference", "fieldPath"), priority=1),
    Column("Source", description=D("core.v1.Event", "source"), priority=1),
    Column("Message", description=D("core.v1.Event", "message")),
    Column("First Seen", description=D("core.v1.Event", "firstTimestamp"), priority=1),
    Column("Count", description=D("core.v1.Event", "count"), priority=1),
    Column("Name", description=D("meta.v1.ObjectMeta", "name"), priority=1, format="name"),
]

_EVENTS_V1_FIELDS = {"regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
                     "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
                     "deprecatedCount": "count"}


def _as_core_event(obj: Obj) -> Obj:
    if "regarding" not in obj and "note" not in obj and not str(obj.get("apiVersion", "")).startswith("events"):
        return obj
    return {_EVENTS_V1_FIELDS.get(k, k): v for k, v in obj.items()}


@printer(("", "events.k8s.io"), "Event", EVENT_COLUMNS)
def event_cells(obj: Obj, now: datetime) -> Cells:
    ev = _as_core_event(obj)
    first = since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1
    io = ev.get("involvedObject") or {}
    kind = str(io.get("kind", "")).lower()
    target = f"{kind}/{io['name']}" if io.get("name") else kind
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingController") or ""
    instance = src.get("host") or ev.get("reportingInstance") or ""
    source = f"{component}, {instance}" if instance else component
    return [last, ev.get("type", ""), ev.get("reason", ""), target, io.get("fieldPath", ""), source,
            str(ev.get("message", "")).strip(), first, int(count), name(ev)]


@printer("", "Secret", [
    NAME, Column("Type", description=D("core.v1.Secret", "type")),
    Column("Data", description=D("core.v1.Secret", "data")), AGE,
])
def secret_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), obj.get("type", ""), len(obj.get("data") or {}), age(obj, now)]


@printer("", "ConfigMap", [NAME, Column("Data", description=D("core.v1.ConfigMap", "data")), AGE])
def configmap_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age(obj, now)]


@printer("", "ServiceAccount", [NAME, Column("Secrets", description=D("core.v1.ServiceAccount", "secrets")), AGE])
def sa_cells(obj: Obj, now: datetime) -> Cells:
    return [name(obj), len(obj.get("secrets") or []), age(obj, now)]


def access_modes(modes: Any) -> str:
    have = set(modes or [])
    return ",".join(short for full, short in (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                                              ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
                    if full in have)


def _storage_class(obj: Obj) -> str:
    ann = meta(obj).get("annotations") or {}
    if ann.get("volume.beta.kubernetes.io/storage-class"):
        return str(ann["volume.beta.kubernetes.io/storage-class"])
    return str(dig(obj, "spec", "storageClassName", default=""))


@printer("", "PersistentVolume", [
    NAME,
    Column("Capacity", description=D("core.v1.PersistentVolumeSpec", "capacity")),
    Column("Access Modes", description=D("core.v1.PersistentVolumeSpec", "accessModes")),
    Column("Reclaim Policy", description=D("core.v1.PersistentVolumeSpec", "persistentVolumeReclaimPolicy")),
    Column("Status", description=D("core.v1.PersistentVolumeStatus", "phase")),
    Column("Claim", description=D("core.v1.PersistentVolumeSpec", "claimRef")),
    Column("StorageClass", description="StorageClass of the pv"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
    Column("Reason", description=D("core.v1.PersistentVolumeStatus", "reason")),
    AGE,
    Column("VolumeMode", description=D("core.v1.PersistentVolumeSpec", "volumeMode"), priority=1),
])
def pv_cells(obj: Obj, now: datetime) -> Cells:
    spec = obj.get("spec") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else dig(obj, "status", "phase", default="")
    return [name(obj), quantity(dig(spec, "capacity", "storage")), access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), phase, claim, _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", dig(obj, "status", "reason", default=""),
            age(obj, now), spec.get("volumeMode") or "<unset>"]


@printer("", "PersistentVolumeClaim", [
    NAME,
    Column("Status", description=D("core.v1.PersistentVolumeClaimStatus", "phase")),
    Column("Volume", description=D("core.v1.PersistentVolumeClaimSpec", "volumeName")),
    Column("Capacity", description=D("core.v1.PersistentVolumeClaimStatus", "capacity")),
    Column("Access Modes", description=D("core.v1.PersistentVolumeClaimStatus", "accessModes")),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE,
    Column("VolumeMode", description=D("core.v1.PersistentVolumeClaimSpec", "volumeMode"), priority=1),
])
def pvc_cells(obj: Obj, now: datetime) -> Cells:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else st.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(st.get("accessModes"))
        capacity = quantity(dig(st, "capacity", "storage"))
    return [name(obj), phase, spec.get("volumeName", ""), capacity, modes, _storage_class(obj),
            spec.get("volumeAttributesClassName") or "<unset>", age(obj, now),
            spec.get("volumeMode") or "<unset>"]


@printer("", "ResourceQuota", [
    NAME,
    Column("Request", description="Request represents a minimum amount of cpu/memory that a container may consume."),
    Column("Limit", description="Limits control the maximum amount of cpu/memory that a container may use "
                                "independent of contention on the node."),
    AGE,
])
def quota_cells(obj: Obj, now: datetime) -> Cells:
    hard = dig(obj, "status", "hard", default={})
    used = dig(obj, "status", "used", default={})
    req: list[str] = []
    lim: list[str] = []
    for res in sorted(hard):
        cell = f"{res}: {quantity(used.get(res))}/{quantity(hard.get(res))}"
        (lim if res.split(".")[0] == "limits" and "." in res else req).append(cell)
    return [name(obj), ", ".join(req), ", ".join(lim), age(obj, now)]

