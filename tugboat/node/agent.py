"""NodeAgent: Tugboat's kubelet. The same code drives real (runc) and simulated nodes.

    agent = NodeAgent(client, runtime, node_name="n1", data_dir="/var/lib/tugboat/agent", clock=clock)
    await agent.start()   # registers the Node, starts lease, status and pod workers
    ...
    await agent.stop()    # stops the agent; containers keep running (a restart adopts them)

Pods come from `AgentSources` (its own informers, or shared ones for many simulated agents);
each pod UID gets a `PodWorker` running `PodSyncer.sync`. Pod status is written with a merge
PATCH of `pods/<name>/status` only when it changed. Container exits are noticed from runtime
events when the runtime offers them (`SupportsEvents`) or else by relisting every second,
like upstream's PLEG.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Callable
from typing import Any

import orjson

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import ApiStatusError, Client, EventRecorder, is_not_found
from tugboat.client.clock import AsyncClock, RealClock
from tugboat.node import hostinfo
from tugboat.node.backoff import Backoff
from tugboat.node.keys import KUBELET_VERSION, POD_UID
from tugboat.node.lease import LeaseRenewer
from tugboat.node.nodestatus import NodeStatusManager
from tugboat.node.podsync import PodRecord, PodSyncer, status_bytes
from tugboat.node.podworker import PodWorker
from tugboat.node.probes import ProbeManager
from tugboat.node.runtime.base import Runtime, SupportsEvents, SupportsRuntimeConfig
from tugboat.node.sa_token import TokenManager
from tugboat.node.sources import POD, AgentSources
from tugboat.node.volumes import VolumeManager

log = logging.getLogger(__name__)
SHUTDOWN_DRAIN = 15.0  # seconds a stopping agent waits for pods being torn down

_KINDS = {k: default_scheme().by_kind(g, "v1", k) for g, k in (
    ("", "ConfigMap"), ("", "Secret"), ("", "PersistentVolumeClaim"), ("", "PersistentVolume"),
    ("", "ServiceAccount"))}


class NodeAgent:
    POD: ResourceType = POD

    def __init__(self, client: Client, runtime: Runtime, *, node_name: str, data_dir: str,
                 clock: AsyncClock | None = None, capacity: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
                 images: Any = None, cluster_dns: list[str] | str | None = None,
                 cluster_domain: str = "cluster.local", sources: AgentSources | None = None,
                 host_ip: str | None = None, node_info: dict[str, Any] | None = None,
                 lease_jitter: bool = False, resync_interval: float = 60.0, status_interval: float = 10.0,
                 materialize_volumes: bool | None = None, recorder: EventRecorder | None = None,
                 on_pod_cidr: Callable[[str], None] | None = None, lease_duration: int = 40,
                 heartbeat_client: Client | None = None):
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.data_dir = data_dir
        self.clock: AsyncClock = clock or RealClock()
        self.images = images
        self.simulated = bool(getattr(runtime, "simulated", False))
        self.cluster_dns = [cluster_dns] if isinstance(cluster_dns, str) else list(cluster_dns or [])
        self.cluster_domain = cluster_domain
        self.resync_interval = resync_interval
        self.status_interval = status_interval
        self.host_ip = host_ip or ("" if self.simulated else hostinfo.internal_ip())
        cap = dict(capacity) if capacity is not None else (
            {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"} if self.simulated
            else hostinfo.host_capacity(data_dir))
        self.allocatable = dict(cap) if (self.simulated or capacity is not None) else _allocatable(cap)
        arch = "amd64" if self.simulated else hostinfo.architecture()
        node_labels = {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
                       "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch, **(labels or {})}
        info = node_info or ({"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "simulated",
                              "osImage": "Tugboat simulated node", "operatingSystem": "linux",
                              "architecture": arch} if self.simulated else hostinfo.host_node_info())
        info = {**info, "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                "containerRuntimeVersion": ""}
        addresses = [{"type": "Hostname", "address": node_name}]
        if self.host_ip:
            addresses.insert(0, {"type": "InternalIP", "address": self.host_ip})
        self.node_status = NodeStatusManager(client, node_name, self.clock, capacity=cap,
                                             allocatable=self.allocatable, labels=node_labels,
                                             taints=list(taints or []), addresses=addresses, node_info=info)
        # upstream's kubelet renews every nodeLeaseDurationSeconds × 0.25 (40 s → 10 s)
        # Like the kubelet's separate heartbeatClient: lease renewals must not queue behind pod
        # status traffic in the main client's rate limiter, or busy nodes look dead.
        self.lease = LeaseRenewer(heartbeat_client or client, node_name, self.clock, interval=lease_duration * 0.25,
                                  duration=lease_duration, jitter=lease_jitter)
        # events carry wall-clock times: their names derive from the time, which a FakeClock would repeat
        self.recorder = recorder or EventRecorder(client, "kubelet", node_name)
        self.backoff = Backoff(self.clock)
        self.pull_backoff = Backoff(self.clock)
        self.volumes = VolumeManager(data_dir, materialize=not self.simulated if materialize_volumes is None
                                     else materialize_volumes, allocatable=self.allocatable)
        self.volumes.tokens = TokenManager(client, self.clock)  # pod-bound projected SA tokens
        self.probes = ProbeManager(runtime, self.clock, self.kick, self.recorder.emit)
        self.syncer = PodSyncer(self)
        self.workers: dict[str, PodWorker] = {}
        self.records: dict[str, PodRecord] = {}
        self._own_sources = sources is None
        self.sources = sources or AgentSources(client, node_name)
        self.pod_cidr = ""
        self.on_pod_cidr = on_pod_cidr
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self._pleg_seen: dict[str, str] = {}
        self.services: list[Any] = []  # objects with async start()/stop(), e.g. node.server.AgentServer
        if self.volumes.materialize:  # local-path volumes live under <data dir>/storage on this node
            from tugboat.node.volume_localpath import LocalPathVolumes
            self.services.append(LocalPathVolumes(client, node_name, os.path.join(data_dir, "storage")))

    def add_service(self, service: Any) -> None:
        """Run `service` with the agent: started before the Node registers (so the agent server's
        port is advertised), stopped at shutdown."""
        self.services.append(service)

    # ---- lifecycle ----
    async def start(self) -> None:
        info = self.node_status.node_info
        info["containerRuntimeVersion"] = await self.runtime.version()
        for svc in self.services:
            await svc.start()
        node = await self.node_status.register()
        self.lease.node_uid = self.node_status.node_uid
        self.node_changed(node)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.lease.run(), name=f"lease-{self.node_name}"),
                       loop.create_task(self._status_loop(), name=f"nodestatus-{self.node_name}")]
        if isinstance(self.runtime, SupportsEvents):
            self.runtime.subscribe(self.kick)
        else:
            self._tasks.append(loop.create_task(self._pleg_loop(), name=f"pleg-{self.node_name}"))
        if self._own_sources:
            self.sources.start()
            await self.sources.wait_for_sync()
        await self._adopt()
        self.sources.register(self)

    async def run(self) -> None:
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        self._stopped.set()
        await self._shutdown()

    async def _shutdown(self) -> None:
        self.sources.unregister(self)
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A finished (Succeeded/Failed) pod's API object goes away at once when deleted, before we
        # cleaned up after it: let such tear-downs finish (bounded) so a stop right after a
        # deletion does not leave its mounts, cgroups and runc containers for the next start.
        ending = [w.task for w in self.workers.values()
                  if w.rec.gone or (w.rec.pod.get("metadata") or {}).get("deletionTimestamp")]
        if ending:
            await asyncio.wait(ending, timeout=SHUTDOWN_DRAIN)
        for w in list(self.workers.values()):
            await w.stop()
        for uid in list(self.records):
            self.probes.remove_pod(uid)
        if self._own_sources:
            await self.sources.stop()
        for svc in self.services:
            await svc.stop()
        await self.recorder.flush()

    async def _adopt(self) -> None:
        """Pods the runtime still runs whose API object is gone: terminate them."""
        known = {(p.get("metadata") or {}).get("uid") for p in self.sources.pods_on(self.node_name)}
        orphans = {s.pod_uid for s in await self.runtime.list_sandboxes()} - known
        for uid in orphans:
            sb = next(s for s in await self.runtime.list_sandboxes() if s.pod_uid == uid)
            pod = {"metadata": {"uid": uid, "name": sb.labels.get("io.kubernetes.pod.name", ""),
                                "namespace": sb.labels.get("io.kubernetes.pod.namespace", "")}, "spec": {}}
            rec = PodRecord(uid, pod, gone=True)
            self.records[uid] = rec
            self.workers[uid] = PodWorker(rec, self.syncer, self.clock, self.resync_interval, self._worker_done)

    # ---- informer callbacks ----
    def pod_changed(self, pod: dict[str, Any]) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        rec = self.records.get(uid)
        if rec is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and \
                    not (pod.get("metadata") or {}).get("deletionTimestamp"):
                return  # finished before we ever saw it (or before a restart): nothing to run
            rec = PodRecord(uid, pod, last_status=status_bytes(pod.get("status") or {}))
            self.records[uid] = rec
        elif not _needs_sync(rec.pod, pod):
            rec.pod = pod  # our own status write coming back: nothing to do (kubelet ignores these too)
            return
        rec.pod = pod
        self.kick(uid)

    def pod_deleted(self, pod: dict[str, Any]) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        rec = self.records.get(uid)
        if rec is not None:
            rec.gone = True
            self.kick(uid)

    def node_changed(self, node: dict[str, Any]) -> None:
        if _ready_status(node) not in (None, "True"):
            # the node lifecycle controller marked us Unknown (a missed heartbeat): like kubelet,
            # which diffs against the Node it fetched, post our status again at the next tick
            self.node_status.mark_stale()
        cidr = (node.get("spec") or {}).get("podCIDR") or ""
        if cidr and cidr != self.pod_cidr:
            self.pod_cidr = cidr
            if isinstance(self.runtime, SupportsRuntimeConfig):
                self.runtime.update_runtime_config(cidr)
            if self.on_pod_cidr is not None:
                self.on_pod_cidr(cidr)

    def kick(self, uid: str) -> None:
        w = self.workers.get(uid)
        if w is not None:
            w.kick()
            return
        rec = self.records.get(uid)
        if rec is not None:
            self.workers[uid] = PodWorker(rec, self.syncer, self.clock, self.resync_interval, self._worker_done)

    def idle(self) -> bool:
        """No pod worker is syncing or has a pending kick."""
        return all(w.idle for w in self.workers.values())

    def _worker_done(self, uid: str) -> None:
        self.workers.pop(uid, None)
        rec = self.records.get(uid)
        if rec is not None and (rec.gone or (rec.pod.get("metadata") or {}).get("deletionTimestamp")):
            self.records.pop(uid, None)
            self.probes.remove_pod(uid)

    # ---- loops ----
    async def _status_loop(self) -> None:
        while True:
            await self.clock.sleep(self.status_interval)
            try:
                await self.node_status.sync()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                log.warning("node %s: status update failed: %s", self.node_name, e)

    async def _pleg_loop(self) -> None:
        while True:
            await self.clock.sleep(1.0)
            try:
                current = await self.runtime.list_containers()
                seen = {c.id: c.state for c in current}
                changed = {c.labels.get(POD_UID, "") for c in current if self._pleg_seen.get(c.id) != c.state}
                self._pleg_seen = seen
                for uid in changed:
                    self.kick(uid)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                log.warning("node %s: runtime relist failed: %s", self.node_name, e)

    # ---- services for the pod syncer ----
    def log_dir(self, pod: dict[str, Any]) -> str:
        md = pod.get("metadata") or {}
        return os.path.join(self.data_dir, "logs", f"{md.get('namespace')}_{md.get('name')}_{md.get('uid')}")

    async def get_object(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        try:
            if kind == "ServiceAccountToken":
                sa = _KINDS["ServiceAccount"]
                assert sa is not None
                path = f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"
                body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                        "spec": {"expirationSeconds": 3607}}
                res = await self.client.request("POST", path, body=body)
                return {"token": (res.get("status") or {}).get("token", "")}
            rt = _KINDS[kind]
            assert rt is not None
            return await self.client.get(rt, name, ns or None)
        except ApiStatusError as e:
            if is_not_found(e):
                return None
            raise

    async def pull_auth(self, pod: dict[str, Any], image: str = "") -> dict[str, str] | None:
        """Credentials for `image` from the pod's imagePullSecrets (.dockerconfigjson `auths`)."""
        first = image.split("/", 1)[0] if "/" in image else ""
        host = first if ("." in first or ":" in first or first == "localhost") else "docker.io"
        ns = (pod.get("metadata") or {}).get("namespace", "")
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            sec = await self.get_object("Secret", ns, ref.get("name", ""))
            raw = ((sec or {}).get("data") or {}).get(".dockerconfigjson")
            if not raw:
                continue
            try:
                auths = orjson.loads(base64.b64decode(raw)).get("auths") or {}
            except (ValueError, orjson.JSONDecodeError):
                continue
            for reg, cred in auths.items():
                reg_host = reg.split("://")[-1].split("/", 1)[0]
                if reg_host == host or (host == "docker.io" and reg_host in ("index.docker.io", "registry-1.docker.io")):
                    return {k: v for k, v in cred.items() if k in ("username", "password", "auth",
                                                                    "identitytoken", "registrytoken")}
        return None

    async def write_status(self, rec: PodRecord, status: dict[str, Any]) -> None:
        data = status_bytes(status)
        if data == rec.last_status or rec.gone:
            return
        md = rec.pod.get("metadata") or {}
        try:
            await self.client.patch(POD, md.get("name", ""), {"metadata": {"uid": rec.uid}, "status": status},
                                    md.get("namespace"), subresource="status")
        except ApiStatusError as e:
            if is_not_found(e) or e.code == 409:
                rec.gone = True
                return
            raise
        rec.last_status = data


def _ready_status(node: dict[str, Any]) -> str | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status"))
    return None


def _needs_sync(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Spec, labels, annotations, deletion or foreign conditions (readiness gates) changed."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations"):
        if om.get(k) != nm.get(k):
            return True
    if old.get("spec") != new.get("spec"):
        return True
    own = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")
    oc = [c for c in (old.get("status") or {}).get("conditions") or [] if c.get("type") not in own]
    nc = [c for c in (new.get("status") or {}).get("conditions") or [] if c.get("type") not in own]
    return oc != nc


def _allocatable(cap: dict[str, str]) -> dict[str, str]:
    """Upstream default hard eviction thresholds come off allocatable (memory.available 100Mi,
    nodefs.available 10%)."""
    from tugboat.api.quantity import parse_quantity
    out = dict(cap)
    if "memory" in cap:
        out["memory"] = f"{max(0, int(parse_quantity(cap['memory'])) - 100 * 1024 * 1024) // 1024}Ki"
    if "ephemeral-storage" in cap:
        out["ephemeral-storage"] = str(int(parse_quantity(cap["ephemeral-storage"]) * 9 // 10))
    return out
