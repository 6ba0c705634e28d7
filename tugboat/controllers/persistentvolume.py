"""PersistentVolume controller: binds claims to volumes, provisions, reclaims (upstream pv_controller).

Why: a claim is a request and a volume a supply; this controller is the only writer of the
binding between them (plus the scheduler, which only picks the node for WaitForFirstConsumer
claims). Upstream 1.32 behaviour copied:
* an unbound claim binds to the smallest fitting Available volume (or one pre-bound to it);
  Immediate claims without one are provisioned by their class; WaitForFirstConsumer claims
  wait ("waiting for first consumer to be created before binding") until the scheduler sets
  `volume.kubernetes.io/selected-node`; a missing class gives `ProvisioningFailed
  storageclass.storage.k8s.io "x" not found`; no class and no volume gives FailedBinding.
* binding writes PV claimRef (+ `pv.kubernetes.io/bound-by-controller` when we chose it),
  PV phase Bound, claim volumeName + `pv.kubernetes.io/bind-completed`, claim phase Bound.
* a volume whose claim is gone is Released; Delete policy: local-path volumes are removed by
  their node's agent, other plugins cannot delete here (Failed + VolumeFailedDelete); Retain
  keeps it Released. A bound claim whose volume vanished is Lost.
* bound local-path claims whose request grows (class allowVolumeExpansion) get the PV and
  claim capacity raised: a directory has no size to change.
The class `local-path` (default, WaitForFirstConsumer) is created once at start if missing.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.storage_binding import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_DYNAMICALLY_PROVISIONED,
    ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
    NO_PROVISIONER,
    anns,
    claim_class,
    claim_ref,
    claim_ref_matches,
    claim_request,
    find_best_match,
    is_default_class,
    meta,
    spec,
    volume_capacity,
)
from tugboat.client import ApiStatusError, copy_obj, deleted_object, is_already_exists, is_not_found
from tugboat.controllers import localpath
from tugboat.controllers.base import BaseController, ControllerContext, register
from tugboat.util.clock import rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "persistentvolume-controller"
BOOTSTRAP = "\x00bootstrap"
WAIT_MSG = "waiting for first consumer to be created before binding"
EXTERNAL_MSG = ("Waiting for a volume to be created either by the external provisioner '{}' or manually by the "
                "system administrator. If volume creation is delayed, please verify that the provisioner is "
                "running and correctly registered.")


@register
class PersistentVolumeController(BaseController):
    name = "persistentvolume-binder"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pv_rt = ctx.rt("", "v1", "persistentvolumes")
        self.pvc_rt = ctx.rt("", "v1", "persistentvolumeclaims")
        self.sc_rt = ctx.rt("storage.k8s.io", "v1", "storageclasses")
        self.node_rt = ctx.rt("", "v1", "nodes")
        self.recorder = ctx.recorder(COMPONENT)
        opts = ctx.options.get(self.name) or {}
        self.create_default_class = bool(opts.get("create_default_class", True))

    def setup(self) -> None:
        inf = self.ctx.informers
        self.pvs = inf.informer(self.pv_rt)
        self.pvcs = inf.informer(self.pvc_rt)
        self.classes = inf.informer(self.sc_rt)
        self.nodes = inf.informer(self.node_rt)
        self.pvs.add_event_handler(on_add=self._volume_event, on_update=lambda _o, n: self._volume_event(n),
                                   on_delete=lambda o: self._volume_event(deleted_object(o)))
        self.pvcs.add_event_handler(on_add=self._claim_event, on_update=lambda _o, n: self._claim_event(n),
                                    on_delete=lambda o: self._claim_event(deleted_object(o)))
        self.classes.add_event_handler(on_add=self._class_event)
        self.nodes.add_event_handler(on_update=self._node_update)
        if self.create_default_class:
            self.enqueue_key(BOOTSTRAP)

    # -- events ---------------------------------------------------------------------------------

    def _volume_event(self, pv: Obj) -> None:
        self.enqueue_key(f"volume/{meta(pv).get('name', '')}")
        ref = spec(pv).get("claimRef")
        if ref:
            self.enqueue_key(f"claim/{ref.get('namespace', '')}/{ref.get('name', '')}")
        elif not meta(pv).get("deletionTimestamp"):
            self._pending_claims()  # a free volume may be what a waiting claim needs

    def _pending_claims(self) -> None:
        for pvc in self.pvcs.lister.list():
            if (pvc.get("status") or {}).get("phase") == "Pending":
                self._claim_event(pvc)

    def _claim_event(self, pvc: Obj) -> None:
        m = meta(pvc)
        self.enqueue_key(f"claim/{m.get('namespace', '')}/{m.get('name', '')}")
        if spec(pvc).get("volumeName"):
            self.enqueue_key(f"volume/{spec(pvc)['volumeName']}")

    def _class_event(self, _sc: Obj) -> None:
        self._pending_claims()

    def _node_update(self, old: Obj, new: Obj) -> None:
        if anns(old).get(localpath.DIR_ANNOTATION) != anns(new).get(localpath.DIR_ANNOTATION):
            self._class_event(new)

    # -- reconcile -------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if key == BOOTSTRAP:
            await self._bootstrap()
            return None
        kind, _, rest = key.partition("/")
        if kind == "volume":
            pv = self.pvs.lister.get(rest)
            if pv is not None:
                await self.sync_volume(pv)
            return None
        ns, _, name = rest.partition("/")
        pvc = self.pvcs.lister.get(name, ns)
        if pvc is None or meta(pvc).get("deletionTimestamp") and not spec(pvc).get("volumeName"):
            return None
        return await self.sync_claim(pvc)

    async def _bootstrap(self) -> None:
        try:
            await self.client.get(self.sc_rt, localpath.CLASS_NAME)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
            try:
                await self.client.create(self.sc_rt, localpath.default_storage_class())
            except ApiStatusError as e2:
                if not is_already_exists(e2):
                    raise

    # -- claims ----------------------------------------------------------------------------------

    async def sync_claim(self, pvc: Obj) -> float | None:
        if anns(pvc).get(ANN_BIND_COMPLETED) and spec(pvc).get("volumeName"):
            return await self._sync_bound_claim(pvc)
        return await self._sync_unbound_claim(pvc)

    async def _sync_unbound_claim(self, pvc: Obj) -> float | None:
        vname = spec(pvc).get("volumeName")
        if vname:
            pv = self.pvs.lister.get(vname)
            if pv is None:
                await self._claim_phase(pvc, "Pending")
                return None
            ref = spec(pv).get("claimRef")
            if ref and not claim_ref_matches(pv, pvc):
                self.recorder.emit(pvc, "Warning", "FailedBinding",
                                   f'volume "{vname}" already bound to a different claim.')
                await self._claim_phase(pvc, "Pending")
                return None
            await self._bind(pv, pvc)
            return None
        if await self._retroactive_default_class(pvc):
            return None  # the update brings the claim back
        sc_name = claim_class(pvc)
        sc = self.classes.lister.get(sc_name) if sc_name else None
        delay = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        pv = find_best_match(pvc, self.pvs.lister.list(), delay_binding=delay)
        if pv is not None:
            await self._bind(pv, pvc)
            return None
        selected = anns(pvc).get(ANN_SELECTED_NODE)
        if delay and not selected:
            self.recorder.emit(pvc, "Normal", "WaitForFirstConsumer", WAIT_MSG)
        elif sc_name:
            await self._provision(pvc, sc_name, sc)
        else:
            self.recorder.emit(pvc, "Normal", "FailedBinding",
                               "no persistent volumes available for this claim and no storage class is set")
        await self._claim_phase(pvc, "Pending")
        return None

    async def _retroactive_default_class(self, pvc: Obj) -> bool:
        """Upstream 1.28+: an unbound claim created with no class at all gets the default class
        once one exists (admission could not give it one at creation)."""
        if spec(pvc).get("storageClassName") is not None or "volume.beta.kubernetes.io/storage-class" in anns(pvc):
            return False
        defaults = [sc for sc in self.classes.lister.list() if is_default_class(sc)]
        if not defaults:
            return False
        defaults.sort(key=lambda sc: (meta(sc).get("creationTimestamp") or "", meta(sc).get("name", "")))
        new = copy_obj(pvc)
        new["spec"]["storageClassName"] = meta(defaults[-1])["name"]
        await self.client.update(self.pvc_rt, new)
        return True

    async def _provision(self, pvc: Obj, sc_name: str, sc: Obj | None) -> None:
        if sc is None:
            self.recorder.emit(pvc, "Warning", "ProvisioningFailed",
                               f'storageclass.storage.k8s.io "{sc_name}" not found')
            return
        prov = sc.get("provisioner") or ""
        if prov == NO_PROVISIONER:
            self.recorder.emit(pvc, "Normal", "FailedBinding",
                               "no persistent volumes available for this claim and no storage class is set"
                               if not sc_name else "no persistent volumes available for this claim")
            return
        if anns(pvc).get(ANN_STORAGE_PROVISIONER) != prov:
            pvc = copy_obj(pvc)
            meta(pvc).setdefault("annotations", {})[ANN_STORAGE_PROVISIONER] = prov
            meta(pvc)["annotations"]["volume.beta.kubernetes.io/storage-provisioner"] = prov
            await self.client.update(self.pvc_rt, pvc)
            return  # the update re-queues the claim
        if prov != localpath.PROVISIONER:
            self.recorder.emit(pvc, "Normal", "ExternalProvisioning", EXTERNAL_MSG.format(prov))
            return
        node_name = anns(pvc).get(ANN_SELECTED_NODE, "")
        try:
            pv = localpath.provision(pvc, sc, self.nodes.lister.get(node_name) if node_name else None)
        except localpath.ProvisionError as e:
            self.recorder.emit(pvc, "Warning", "ProvisioningFailed", str(e))
            return
        self.recorder.emit(pvc, "Normal", "Provisioning",
                           f'External provisioner is provisioning volume for claim "{meta(pvc).get("namespace")}/'
                           f'{meta(pvc).get("name")}"')
        try:
            await self.client.create(self.pv_rt, pv)
        except ApiStatusError as e:
            if not is_already_exists(e):
                self.recorder.emit(pvc, "Warning", "ProvisioningFailed", str(e))
                raise
        self.recorder.emit(pvc, "Normal", "ProvisioningSucceeded",
                           f"Successfully provisioned volume {meta(pv)['name']}")

    async def _sync_bound_claim(self, pvc: Obj) -> float | None:
        vname = spec(pvc)["volumeName"]
        pv = self.pvs.lister.get(vname)
        if pv is None:
            if (pvc.get("status") or {}).get("phase") != "Lost":
                self.recorder.emit(pvc, "Warning", "ClaimLost",
                                   "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
            await self._claim_phase(pvc, "Lost")
            return None
        if not spec(pv).get("claimRef"):
            await self._bind(pv, pvc)
            return None
        if not claim_ref_matches(pv, pvc):
            self.recorder.emit(pvc, "Warning", "ClaimMisbound",
                               "Two claims are bound to the same volume, this one is bound incorrectly")
            await self._claim_phase(pvc, "Lost")
            return None
        await self._bind(pv, pvc)
        await self._expand(pv, pvc)
        return None

    async def _expand(self, pv: Obj, pvc: Obj) -> None:
        want = claim_request(pvc)
        if want <= volume_capacity(pv):
            return
        sc = self.classes.lister.get(claim_class(pvc))
        if (sc is None or not sc.get("allowVolumeExpansion")
                or anns(pv).get(ANN_DYNAMICALLY_PROVISIONED) != localpath.PROVISIONER):
            return
        size = ((spec(pvc).get("resources") or {}).get("requests") or {}).get("storage")
        await self.client.patch(self.pv_rt, meta(pv)["name"], {"spec": {"capacity": {"storage": size}}})
        await self.client.patch(self.pvc_rt, meta(pvc)["name"], {"status": {"capacity": {"storage": size}}},
                                meta(pvc)["namespace"], subresource="status")
        self.recorder.emit(pvc, "Normal", "VolumeResizeSuccessful", "Resize volume succeeded")

    async def _bind(self, pv: Obj, pvc: Obj) -> None:
        """Upstream bind(): volume claimRef, volume phase, claim volumeName + annotations, claim phase."""
        pv_name = meta(pv)["name"]
        if not claim_ref_matches(pv, pvc) or not (spec(pv).get("claimRef") or {}).get("uid"):
            new = copy_obj(pv)
            if not claim_ref_matches(pv, pvc) or not spec(pv).get("claimRef"):
                meta(new).setdefault("annotations", {}).setdefault(ANN_BOUND_BY_CONTROLLER, "yes")
            new["spec"]["claimRef"] = claim_ref(pvc)
            pv = await self.client.update(self.pv_rt, new)
        await self._volume_phase(pv, "Bound")
        cs = spec(pvc)
        if cs.get("volumeName") != pv_name or not anns(pvc).get(ANN_BIND_COMPLETED):
            new = copy_obj(pvc)
            ann = meta(new).setdefault("annotations", {})
            if cs.get("volumeName") != pv_name:
                new["spec"]["volumeName"] = pv_name
                ann.setdefault(ANN_BOUND_BY_CONTROLLER, "yes")
            ann[ANN_BIND_COMPLETED] = "yes"
            pvc = await self.client.update(self.pvc_rt, new)
        st = pvc.get("status") or {}
        cap = spec(pv).get("capacity") or {}
        modes = spec(pv).get("accessModes") or []
        if st.get("phase") != "Bound" or st.get("accessModes") != modes or not st.get("capacity"):
            body = {"status": {"phase": "Bound", "accessModes": modes, "capacity": cap}}
            await self.client.patch(self.pvc_rt, meta(pvc)["name"], body, meta(pvc)["namespace"],
                                    subresource="status")

    async def _claim_phase(self, pvc: Obj, phase: str) -> None:
        if (pvc.get("status") or {}).get("phase") == phase:
            return
        try:
            await self.client.patch(self.pvc_rt, meta(pvc)["name"], {"status": {"phase": phase}},
                                    meta(pvc)["namespace"], subresource="status")
        except ApiStatusError as e:
            if not is_not_found(e):
                raise

    async def _volume_phase(self, pv: Obj, phase: str, message: str = "") -> None:
        st = pv.get("status") or {}
        if st.get("phase") == phase and (st.get("message") or "") == message:
            return
        body: Obj = {"status": {"phase": phase, "message": message or None}}
        if st.get("phase") != phase:
            body["status"]["lastPhaseTransitionTime"] = rfc3339(self.ctx.clock.time())
        try:
            await self.client.patch(self.pv_rt, meta(pv)["name"], body, subresource="status")
        except ApiStatusError as e:
            if not is_not_found(e):
                raise

    # -- volumes ---------------------------------------------------------------------------------

    async def sync_volume(self, pv: Obj) -> None:
        ref = spec(pv).get("claimRef")
        if not ref:
            await self._volume_phase(pv, "Available")
            return
        if not ref.get("uid"):
            await self._volume_phase(pv, "Available")  # pre-bound: waits for its claim
            return
        pvc = self.pvcs.lister.get(ref.get("name", ""), ref.get("namespace", ""))
        if pvc is not None and meta(pvc).get("uid") != ref.get("uid"):
            pvc = None
        if pvc is None:
            try:  # our cache may lag: ask the server before releasing
                live = await self.client.get(self.pvc_rt, ref.get("name", ""), ref.get("namespace", ""))
                if meta(live).get("uid") == ref.get("uid"):
                    return
            except ApiStatusError as e:
                if not is_not_found(e):
                    raise
            await self._released(pv)
            return
        vname = spec(pvc).get("volumeName")
        if not vname:
            return  # the claim's sync finishes the binding
        if vname == meta(pv)["name"]:
            await self._volume_phase(pv, "Bound")
            return
        if anns(pv).get(ANN_BOUND_BY_CONTROLLER):
            new = copy_obj(pv)  # we bound it to a claim that went elsewhere: free it
            new["spec"].pop("claimRef", None)
            meta(new).get("annotations", {}).pop(ANN_BOUND_BY_CONTROLLER, None)
            pv = await self.client.update(self.pv_rt, new)
            await self._volume_phase(pv, "Available")

    async def _released(self, pv: Obj) -> None:
        phase = (pv.get("status") or {}).get("phase")
        if phase == "Failed":
            return
        if phase != "Released":
            await self._volume_phase(pv, "Released")
        policy = spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Retain":
            return
        if policy == "Delete" and anns(pv).get(ANN_DYNAMICALLY_PROVISIONED) == localpath.PROVISIONER:
            return  # the agent of the volume's node removes the directory, then the PV
        name = meta(pv)["name"]
        msg = (f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched'
               if policy == "Delete" else f"No recycler plugin found for the volume {name}")
        self.recorder.emit(pv, "Warning", "VolumeFailedDelete" if policy == "Delete" else "VolumeFailedRecycle", msg)
        await self._volume_phase(pv, "Failed", msg)

