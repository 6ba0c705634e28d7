"""VolumeBinding: a pod goes where its volumes are, and WaitForFirstConsumer claims bind there.

Upstream 1.32 (pkg/scheduler/framework/plugins/volumebinding), the parts that matter here:
* PreFilter: a missing claim or one being deleted makes the pod unresolvable
  (`persistentvolumeclaim "x" not found`); an unbound claim whose class binds Immediately
  means "pod has unbound immediate PersistentVolumeClaims" — the PV controller must act first.
* Filter, per node: every bound volume's required node affinity must admit the node ("node(s)
  had volume node affinity conflict"; a bound volume that does not exist: "node(s) unavailable
  due to one or more pvc(s) bound to non-existent pv(s)"); every WaitForFirstConsumer claim
  needs an Available volume that fits on the node, or a class that can provision there
  ("node(s) didn't find available persistent volumes to bind").
* PreBind (our `bind`, which returns SKIP so DefaultBinder binds the pod): static matches get
  their claimRef written (bound-by-controller), provisioned claims get
  `volume.kubernetes.io/selected-node`; then the pod waits until the PV controller has bound
  every claim (bind timeout 600 s), so the node agent never sees an unbound claim.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tugboat.api.scheme import default_scheme
from tugboat.api.storage_binding import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_SELECTED_NODE,
    NO_PROVISIONER,
    claim_class,
    claim_ref,
    find_best_match,
    meta,
    node_affinity_matches,
    pod_claim_names,
    spec,
)
from tugboat.client.errors import ApiStatusError
from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Plugin
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Code, Status, unresolvable

Obj = dict[str, Any]
PVC_EVENT = "PersistentVolumeClaim/All"
PV_EVENT = "PersistentVolume/All"
SC_EVENT = "StorageClass/All"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
_S = default_scheme()
PV_RT = _S.get("", "v1", "persistentvolumes")
PVC_RT = _S.get("", "v1", "persistentvolumeclaims")


class _State:
    __slots__ = ("bound", "missing_pv", "delayed", "waiting", "decisions")

    def __init__(self) -> None:
        self.bound: list[Obj] = []  # PVs of bound claims
        self.missing_pv = False
        self.delayed: list[Obj] = []  # unbound WaitForFirstConsumer claims
        self.waiting: list[str] = []  # claims with a volume chosen whose binding is not finished
        self.decisions: dict[str, dict[str, str]] = {}  # node -> claim name -> PV name ("" = provision)


def _topology_ok(sc: Obj, ni: NodeInfo) -> bool:
    terms = sc.get("allowedTopologies") or []
    if not terms:
        return True
    for t in terms:
        if all(ni.labels.get(e.get("key", "")) in (e.get("values") or []) for e in t.get("matchLabelExpressions") or ()):
            return True
    return False


class VolumeBinding(Plugin):
    name = "VolumeBinding"
    events = frozenset({PVC_EVENT, PV_EVENT, SC_EVENT, ev.NODE_ADD, ev.NODE_LABEL})
    bind_timeout = 600.0
    poll_interval = 0.1

    def _listers(self) -> tuple[Any, Any, Any] | None:
        h = self.handle
        pvcs, pvs, scs = h.lister("persistentvolumeclaims"), h.lister("persistentvolumes"), h.lister("storageclasses")
        if pvcs is None or pvs is None or scs is None:
            return None
        return pvcs, pvs, scs

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        names = pod_claim_names(pi.pod)
        listers = self._listers() if names else None
        if listers is None:
            return SKIP
        pvcs, pvs, scs = listers
        st = _State()
        ephemeral = {f"{pi.name}-{v.get('name', '')}" for v in spec(pi.pod).get("volumes") or ()
                     if v.get("ephemeral") is not None}
        for name in names:
            pvc = pvcs.get(name, pi.namespace)
            if pvc is None:
                if name in ephemeral:
                    return unresolvable(
                        f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{name}"')
                return unresolvable(f'persistentvolumeclaim "{name}" not found')
            if name in ephemeral and not any(r.get("uid") == pi.uid and r.get("controller")
                                             for r in meta(pvc).get("ownerReferences") or ()):
                return unresolvable(f"PVC {pi.namespace}/{name} was not created for pod {pi.key} (pod is not owner)")
            if meta(pvc).get("deletionTimestamp"):
                return unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
            vname = spec(pvc).get("volumeName")
            sc = scs.get(claim_class(pvc)) if claim_class(pvc) else None
            delayed = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
            if vname and (delayed or (pvc.get("metadata") or {}).get("annotations", {}).get(ANN_BIND_COMPLETED)):
                pv = pvs.get(vname)
                if pv is None:
                    st.missing_pv = True
                else:
                    st.bound.append(pv)  # its node affinity decides
                if not (pvc.get("status") or {}).get("phase") == "Bound":
                    st.waiting.append(name)  # pre-bound: the PV controller finishes, the pod waits for it
                continue
            if not delayed:
                return unresolvable(ERR_UNBOUND_IMMEDIATE)
            st.delayed.append(pvc)
        state["VolumeBinding"] = st
        return None

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        st: _State = state["VolumeBinding"]
        if st.missing_pv:
            return unresolvable(ERR_PV_NOT_EXIST)
        for pv in st.bound:
            if not node_affinity_matches(pv, ni.name, ni.labels):
                return unresolvable(ERR_NODE_CONFLICT)
        if not st.delayed:
            return None
        listers = self._listers()
        assert listers is not None
        _pvcs, pvs, scs = listers
        chosen: dict[str, str] = {}
        volumes = pvs.list()
        for pvc in st.delayed:
            selected = (meta(pvc).get("annotations") or {}).get(ANN_SELECTED_NODE)
            if selected and selected != ni.name:
                return unresolvable(ERR_BIND_CONFLICT)  # provisioning already started for another node
            taken = set(chosen.values())
            match = find_best_match(pvc, [v for v in volumes if meta(v).get("name") not in taken],
                                    delay_binding=True, node=(ni.name, ni.labels))
            if match is not None:
                chosen[meta(pvc)["name"]] = meta(match)["name"]
                continue
            sc_obj: Obj = scs.get(claim_class(pvc)) or {}
            if sc_obj.get("provisioner") in (None, "", NO_PROVISIONER) or not _topology_ok(sc_obj, ni):
                return unresolvable(ERR_BIND_CONFLICT)
            chosen[meta(pvc)["name"]] = ""
        st.decisions[ni.name] = chosen
        return None

    async def bind(self, state: CycleState, pi: PodInfo, node: str) -> Status | None:
        st: _State | None = state.get("VolumeBinding")
        client = self.handle.client
        if st is None or not (st.delayed or st.waiting) or client is None:
            return SKIP
        assert PV_RT is not None and PVC_RT is not None
        claims = {meta(c)["name"]: c for c in st.delayed}
        try:
            for cname, pv_name in st.decisions.get(node, {}).items():
                if pv_name:
                    pv = await client.get(PV_RT, pv_name)
                    if spec(pv).get("claimRef"):
                        return Status(Code.ERROR, f"binding volumes: volume {pv_name} is already bound")
                    pv["spec"]["claimRef"] = claim_ref(claims[cname])
                    pv["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
                    await client.update(PV_RT, pv)
                else:
                    await client.patch(PVC_RT, cname, {"metadata": {"annotations": {ANN_SELECTED_NODE: node}}},
                                       pi.namespace)
        except ApiStatusError as e:
            return Status(Code.ERROR, f"binding volumes: {e}")
        return await self._wait_bound(pi, [*claims, *st.waiting])

    async def _wait_bound(self, pi: PodInfo, names: list[str]) -> Status | None:
        pvcs = self.handle.lister("persistentvolumeclaims")
        assert pvcs is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.bind_timeout
        while loop.time() < deadline:
            if all(((pvcs.get(n, pi.namespace) or {}).get("status") or {}).get("phase") == "Bound" for n in names):
                return SKIP
            await asyncio.sleep(self.poll_interval)
        return Status(Code.ERROR, "binding volumes: context deadline exceeded")
