"""EndpointSlice controller: the scalable form of Endpoints that kube-proxy and DNS read.

Upstream 1.32 (pkg/controller/endpointslice + staging endpointslice reconciler):
* One set of slices per Service with a selector (not default/kubernetes), labelled
  `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io`, carrying the Service's labels, owned by the Service
  (controller ownerReference, so the garbage collector removes them with it).
* addressType IPv4, at most 100 endpoints per slice, one group of slices per distinct port set
  (named targetPorts can resolve differently per pod).
* Terminating pods stay in slices: conditions ready = (Ready and not terminating) or
  publishNotReadyAddresses, serving = Ready, terminating = deletionTimestamp set.
* A Service that selects nothing keeps one empty placeholder slice.

Staleness: after we write a slice our informer may not have it yet; a reconcile in that window
would create duplicates. We remember the resourceVersions we wrote per Service and skip until
the informer has caught up (its event for the slice enqueues the Service again) — upstream's
endpointSliceTracker.
"""

from __future__ import annotations

from typing import Any

from tugboat.client import copy_obj, deleted_object, is_not_found, split_key
from tugboat.client.errors import ApiStatusError
from tugboat.controllers import endpoints_util as eu
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]
MAX_ENDPOINTS_PER_SLICE = 100
ZONE_LABEL = "topology.kubernetes.io/zone"


def _port_key(ports: list[Obj]) -> tuple[Any, ...]:
    return tuple(sorted((p.get("name") or "", p.get("port"), p.get("protocol")) for p in ports or ()))


@register
class EndpointSliceController(BaseController):
    name = "endpointslice-controller"
    workers = 4

    def __init__(self, ctx: ControllerContext, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE):
        super().__init__(ctx)
        self.max_per_slice = max_endpoints_per_slice
        self.svc_rt = ctx.rt("", "v1", "services")
        self.pod_rt = ctx.rt("", "v1", "pods")
        self.slice_rt = ctx.rt("discovery.k8s.io", "v1", "endpointslices")
        self.written: dict[str, dict[str, int]] = {}  # service key -> slice name -> rv (-1: deleted)

    def setup(self) -> None:
        inf = self.ctx.informers
        self.services = inf.informer(self.svc_rt)
        self.pods = inf.informer(self.pod_rt)
        self.nodes = inf.informer(self.ctx.rt("", "v1", "nodes"))
        self.slices = inf.informer(self.slice_rt, indexers={"service": _slice_service})
        self.services.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                        on_delete=lambda o: self.enqueue(deleted_object(o)))
        self.pods.add_event_handler(on_add=self._pod, on_update=self._pod_update,
                                    on_delete=lambda o: self._pod(deleted_object(o)))
        self.slices.add_event_handler(on_add=self._slice, on_update=lambda _o, n: self._slice(n),
                                      on_delete=lambda o: self._slice(deleted_object(o)))

    def _slice(self, sl: Obj) -> None:
        for key in _slice_service(sl):
            self.enqueue_key(key)

    def _pod(self, pod: Obj) -> None:
        for svc in self.services.lister.list(pod["metadata"].get("namespace")):
            if eu.selects(svc, pod):
                self.enqueue(svc)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if eu.pod_fingerprint(old) != eu.pod_fingerprint(new):
            self._pod(new)
            if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
                self._pod(old)

    # -- desired state ------------------------------------------------------------------------

    def _endpoint(self, svc: Obj, pod: Obj) -> Obj | None:
        ip = eu.pod_ipv4(pod)
        if ip is None:
            return None
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        serving = eu.pod_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        ep: Obj = {"addresses": [ip],
                   "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                                  "terminating": terminating}}
        host = eu.hostname(pod, svc)
        if host:
            ep["hostname"] = host
        ep["targetRef"] = eu.target_ref(pod)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            ep["nodeName"] = node_name
            node = self.nodes.lister.get(node_name)
            zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE_LABEL)
            if zone:
                ep["zone"] = zone
        return ep

    def desired(self, svc: Obj) -> dict[tuple[Any, ...], tuple[list[Obj], list[Obj]]]:
        """Port-set key -> (ports, endpoints sorted by address)."""
        ns = svc["metadata"]["namespace"]
        out: dict[tuple[Any, ...], tuple[list[Obj], list[Obj]]] = {}
        svc_ports = (svc.get("spec") or {}).get("ports") or []
        for pod in self.pods.lister.list(ns):
            if not eu.selects(svc, pod) or not eu.should_be_in_endpoints(pod, True):
                continue
            ep = self._endpoint(svc, pod)
            if ep is None:
                continue
            ports = []
            for sp in svc_ports:
                num = eu.find_port(pod, sp)
                if num is None:
                    continue
                p: Obj = {"name": sp.get("name") or "", "protocol": sp.get("protocol") or "TCP", "port": num}
                if sp.get("appProtocol"):
                    p["appProtocol"] = sp["appProtocol"]
                ports.append(p)
            if svc_ports and not ports:
                continue
            key = _port_key(ports)
            out.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"])), []))[1].append(ep)
        for _ports, eps in out.values():
            eps.sort(key=lambda e: e["addresses"][0])
        return out

    # -- reconcile ----------------------------------------------------------------------------

    def _caught_up(self, key: str) -> bool:
        written = self.written.get(key)
        if not written:
            return True
        ns, _ = split_key(key)
        for name, rv in list(written.items()):
            cur = self.slices.lister.get(name, ns)
            seen = cur is None if rv < 0 else cur is not None and int(cur["metadata"]["resourceVersion"]) >= rv
            if not seen:
                return False
            del written[name]
        return True

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        assert ns is not None
        if not self._caught_up(key):
            return None  # the informer event for our last write will enqueue us again
        svc = self.services.lister.get(name, ns)
        existing = [s for s in self.slices.lister.by_index("service", key)
                    if (s["metadata"].get("labels") or {}).get(eu.MANAGED_BY_LABEL) == eu.MANAGED_BY]
        if svc is None or not eu.managed_service(svc):
            for s in existing:
                await self._delete(key, s)
            return None
        want: list[tuple[list[Obj], list[Obj]]] = []
        for ports, eps in self.desired(svc).values():
            for i in range(0, len(eps), self.max_per_slice):
                want.append((ports, eps[i:i + self.max_per_slice]))
        if not want:
            want.append(([], []))  # placeholder
        pool = sorted(existing, key=lambda s: s["metadata"]["name"])
        for ports, eps in want:
            match = next((s for s in pool if _port_key(s.get("ports") or []) == _port_key(ports)), None)
            if match is not None:
                pool.remove(match)
            await self._write(key, svc, match, ports, eps)
        for s in pool:
            await self._delete(key, s)
        return None

    async def _write(self, key: str, svc: Obj, cur: Obj | None, ports: list[Obj], eps: list[Obj]) -> None:
        meta = svc["metadata"]
        labels = {**eu.service_labels(svc), eu.SERVICE_NAME_LABEL: meta["name"], eu.MANAGED_BY_LABEL: eu.MANAGED_BY}
        owner = [{"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta.get("uid", ""),
                  "controller": True, "blockOwnerDeletion": True}]
        if cur is not None:
            if (cur.get("endpoints") or []) == eps and (cur.get("ports") or []) == ports \
                    and cur["metadata"].get("labels") == labels and cur["metadata"].get("ownerReferences") == owner:
                return
            body = copy_obj(cur)
        else:
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                    "metadata": {"generateName": meta["name"] + "-", "namespace": meta["namespace"]}}
        body["metadata"]["labels"] = labels
        body["metadata"]["ownerReferences"] = owner
        body["endpoints"] = eps
        if ports:
            body["ports"] = ports
        else:
            body.pop("ports", None)
        if cur is None:
            out = await self.client.create(self.slice_rt, body, meta["namespace"])
        else:
            out = await self.client.update(self.slice_rt, body, meta["namespace"])
        self.written.setdefault(key, {})[out["metadata"]["name"]] = int(out["metadata"]["resourceVersion"])

    async def _delete(self, key: str, sl: Obj) -> None:
        m = sl["metadata"]
        try:
            await self.client.delete(self.slice_rt, m["name"], m["namespace"])
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
        self.written.setdefault(key, {})[m["name"]] = -1


def _slice_service(sl: Obj) -> list[str]:
    m = sl.get("metadata") or {}
    svc = (m.get("labels") or {}).get(eu.SERVICE_NAME_LABEL)
    return [f"{m.get('namespace')}/{svc}"] if svc else []
