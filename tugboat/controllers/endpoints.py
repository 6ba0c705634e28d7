"""Endpoints controller: keep `Endpoints/<svc>` equal to the ready and not-ready pods a
Service selects.

Why still Endpoints next to EndpointSlices: `kubectl describe svc`, older clients and the
`kubectl get ep` column read them. Upstream 1.32 (pkg/controller/endpoint):
* Only Services with a selector (users manage the others); never default/kubernetes.
* Ready pods (or all, with publishNotReadyAddresses) go to `addresses`, others to
  `notReadyAddresses`; terminating pods are left out unless publishNotReadyAddresses.
* Each address carries ip, nodeName, targetRef and, for a pod with hostname + subdomain equal
  to the Service name, the hostname. Named targetPorts are resolved per pod, so pods with
  different port numbers end up in different subsets (repacked: one subset per port set).
* Endpoints carry the Service's labels (+ `service.kubernetes.io/headless` when headless) and
  are deleted with the Service.
"""

from __future__ import annotations

from typing import Any

from tugboat.client import copy_obj, deleted_object, is_already_exists, is_not_found, split_key
from tugboat.client.errors import ApiStatusError
from tugboat.controllers import endpoints_util as eu
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]


def build_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """RepackSubsets form: pods grouped by the exact set of ports they resolve to."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    svc_ports = spec.get("ports") or []
    groups: dict[tuple[Any, ...], tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not eu.should_be_in_endpoints(pod, publish):
            continue
        ip = eu.pod_ipv4(pod)
        if ip is None:
            continue
        addr: Obj = {"ip": ip}
        host = eu.hostname(pod, svc)
        if host:
            addr["hostname"] = host
        if (pod.get("spec") or {}).get("nodeName"):
            addr["nodeName"] = pod["spec"]["nodeName"]
        addr["targetRef"] = eu.target_ref(pod)
        ports = []
        for sp in svc_ports:
            num = eu.find_port(pod, sp)
            if num is None:
                continue
            ep: Obj = {"port": num, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                ep["name"] = sp["name"]
            if sp.get("appProtocol"):
                ep["appProtocol"] = sp["appProtocol"]
            ports.append(ep)
        if not ports and (svc_ports or spec.get("clusterIP") != "None"):
            continue  # no port resolves on this pod (a headless Service without ports keeps it)
        ports.sort(key=lambda p: (p.get("name", ""), p["port"], p["protocol"]))
        key = tuple((p.get("name", ""), p["port"], p["protocol"]) for p in ports)
        g = groups.setdefault(key, ([], [], ports))
        (g[0] if publish or eu.pod_ready(pod) else g[1]).append(addr)
    out = []
    for _key, (ready_a, not_ready_a, ports) in sorted(groups.items()):
        sub: Obj = {}
        if ready_a:
            sub["addresses"] = sorted(ready_a, key=lambda a: a["ip"])
        if not_ready_a:
            sub["notReadyAddresses"] = sorted(not_ready_a, key=lambda a: a["ip"])
        if ports:
            sub["ports"] = ports
        out.append(sub)
    return out


@register
class EndpointsController(BaseController):
    name = "endpoints-controller"
    workers = 4

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.svc_rt = ctx.rt("", "v1", "services")
        self.ep_rt = ctx.rt("", "v1", "endpoints")
        self.pod_rt = ctx.rt("", "v1", "pods")

    def setup(self) -> None:
        inf = self.ctx.informers
        self.services = inf.informer(self.svc_rt)
        self.pods = inf.informer(self.pod_rt)
        self.endpoints = inf.informer(self.ep_rt)
        self.services.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                        on_delete=lambda o: self.enqueue(deleted_object(o)))
        self.pods.add_event_handler(on_add=self._pod, on_update=self._pod_update,
                                    on_delete=lambda o: self._pod(deleted_object(o)))
        self.endpoints.add_event_handler(on_update=lambda _o, n: self.enqueue(n),
                                         on_delete=lambda o: self.enqueue(deleted_object(o)))

    def _pod(self, pod: Obj) -> None:
        for svc in self.services.lister.list(pod["metadata"].get("namespace")):
            if eu.selects(svc, pod):
                self.enqueue(svc)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if eu.pod_fingerprint(old) == eu.pod_fingerprint(new):
            return
        self._pod(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self._pod(old)

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        assert ns is not None
        svc = self.services.lister.get(name, ns)
        current = self.endpoints.lister.get(name, ns)
        if svc is None:
            if current is not None and not (ns == "default" and name == "kubernetes"):
                try:
                    await self.client.delete(self.ep_rt, name, ns)
                except ApiStatusError as e:
                    if not is_not_found(e):
                        raise
            return None
        if not eu.managed_service(svc):
            return None
        pods = [p for p in self.pods.lister.list(ns) if eu.selects(svc, p)]
        subsets = build_subsets(svc, pods)
        labels = eu.service_labels(svc)
        if current is not None and (current.get("subsets") or []) == subsets \
                and (current["metadata"].get("labels") or {}) == labels:
            return None
        body: Obj = copy_obj(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
        body["metadata"]["labels"] = labels
        if not labels:
            body["metadata"].pop("labels")
        if subsets:
            body["subsets"] = subsets
        else:
            body.pop("subsets", None)
        if current is None:
            try:
                await self.client.create(self.ep_rt, body, ns)
                return None
            except ApiStatusError as e:
                if not is_already_exists(e):
                    raise
                body["metadata"]["resourceVersion"] = (await self.client.get(self.ep_rt, name, ns))[
                    "metadata"]["resourceVersion"]
        await self.client.update(self.ep_rt, body, ns)
        return None
