"""One Deployment sync: find/create the new ReplicaSet, scale, roll, clean up, write status.

Mirrors upstream's sync.go / rolling.go / recreate.go / progress.go step by step, so the
numbers (how many pods surge, when old ReplicaSets shrink, which condition reason is set)
match what users of `kubectl rollout` expect. `Rollout` holds a private copy of the
Deployment that is refreshed after every write to it; ReplicaSets come from the caller
(already claimed) and are replaced in place when this sync updates them.
"""

from __future__ import annotations

import logging
from typing import Any

from tugboat.api.scheme import ResourceType
from tugboat.client import Client, EventRecorder, copy_obj, is_already_exists
from tugboat.controllers import deployment_util as du
from tugboat.controllers.podcontrol import creation_time, is_controlled_by, owner_reference
from tugboat.util.clock import parse_rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Rollout:
    def __init__(self, client: Client, deploy_rt: ResourceType, rs_rt: ResourceType, recorder: EventRecorder,
                 now: float, d: Obj, rss: list[Obj], rs_lister: Any):
        self.client = client
        self.deploy_rt = deploy_rt
        self.rs_rt = rs_rt
        self.recorder = recorder
        self.now = now
        self.d = copy_obj(d)
        self.rss = list(rss)
        self.rs_lister = rs_lister
        self.requeue: float | None = None

    @property
    def ns(self) -> str:
        return str(self.d["metadata"]["namespace"])

    def event(self, type_: str, reason: str, msg: str) -> None:
        self.recorder.emit(self.d, type_, reason, msg)

    # -- writes ------------------------------------------------------------------------------------

    async def update_status(self, status: Obj | None = None) -> None:
        body = dict(self.d)
        if status is not None:
            body["status"] = status
        self.d = await self.client.update_status(self.deploy_rt, body, self.ns)

    async def update_rs(self, rs: Obj) -> Obj:
        new = await self.client.update(self.rs_rt, rs, self.ns)
        uid = new["metadata"]["uid"]
        self.rss = [new if r["metadata"]["uid"] == uid else r for r in self.rss]
        return new

    async def scale_rs(self, rs: Obj, new_scale: int, operation: str | None = None) -> tuple[bool, Obj]:
        old_scale = du.replicas(rs)
        size_changed = old_scale != new_scale
        desired, max_reps = du.replicas(self.d), du.replicas(self.d) + du.max_surge(self.d)
        if not size_changed and not du.replicas_annotations_need_update(rs, desired, max_reps):
            return False, rs
        cp = copy_obj(rs)
        cp["spec"]["replicas"] = new_scale
        du.set_replicas_annotations(cp, desired, max_reps)
        new = await self.update_rs(cp)
        if size_changed:
            op = operation or ("up" if new_scale > old_scale else "down")
            self.event("Normal", "ScalingReplicaSet",
                       f"Scaled {op} replica set {rs['metadata']['name']} to {new_scale} from {old_scale}")
        return size_changed, new

    async def scale_and_record(self, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        if du.replicas(rs) == new_scale:
            return False, rs
        return await self.scale_rs(rs, new_scale)

    # -- new / old replica sets ------------------------------------------------------------------

    def split(self) -> tuple[Obj | None, list[Obj]]:
        new = du.find_new_rs(self.d, self.rss)
        return new, [r for r in self.rss if new is None or r["metadata"]["uid"] != new["metadata"]["uid"]]

    async def get_all(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision."""
        existing, old = self.split()
        new_revision = du.max_revision(old) + 1
        if existing is not None:
            cp = copy_obj(existing)
            ann_changed = du.set_new_rs_annotations(self.d, cp, new_revision, True)
            mrs = int(self.d["spec"].get("minReadySeconds") or 0)
            if ann_changed or int(cp["spec"].get("minReadySeconds") or 0) != mrs:
                cp["spec"]["minReadySeconds"] = mrs
                return await self.update_rs(cp), old
            needs = self._set_deployment_revision(du.annotations_of(cp).get(du.REVISION, ""))
            status = self.d.setdefault("status", {})
            if du.has_progress_deadline(self.d) and du.condition(status, du.PROGRESSING) is None:
                du.set_condition(status, du.new_condition(
                    du.PROGRESSING, "True", du.FOUND_NEW_RS, f'Found new replica set "{cp["metadata"]["name"]}"',
                    self.now))
                needs = True
            if needs:
                await self.update_status()
            return existing, old
        if not create:
            return None, old
        return await self._create_new(old, new_revision), old

    def _set_deployment_revision(self, rev: str) -> bool:
        ann = self.d["metadata"].setdefault("annotations", {})
        if ann.get(du.REVISION) == rev:
            return False
        ann[du.REVISION] = rev
        return True

    async def _create_new(self, old: list[Obj], new_revision: int) -> Obj:
        d = self.d
        tpl = copy_obj(d["spec"]["template"])
        status = d.setdefault("status", {})
        h = du.compute_hash(d["spec"]["template"], status.get("collisionCount"))
        tpl.setdefault("metadata", {}).setdefault("labels", {})[du.HASH_LABEL] = h
        sel = copy_obj(d["spec"]["selector"])
        sel.setdefault("matchLabels", {})[du.HASH_LABEL] = h
        name = f"{d['metadata']['name']}-{h}"
        rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": name, "namespace": self.ns, "labels": dict(tpl["metadata"]["labels"]),
                                "ownerReferences": [owner_reference(d, self.deploy_rt)]},
                   "spec": {"replicas": 0, "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                            "selector": sel, "template": tpl}}
        count = self._new_rs_new_replicas(old, rs)
        rs["spec"]["replicas"] = count
        du.set_new_rs_annotations(d, rs, new_revision, False)
        already = False
        try:
            created = await self.client.create(self.rs_rt, rs, self.ns)
        except Exception as e:
            if not is_already_exists(e):
                msg = f'Failed to create new replica set "{name}": {e}'
                if du.has_progress_deadline(d):
                    du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.RS_CREATE_ERROR, msg,
                                                              self.now))
                    await self.update_status()
                self.event("Warning", "FailedCreate", msg)
                raise
            cur = self.rs_lister.get(name, self.ns) or await self.client.get(self.rs_rt, name, self.ns)
            if is_controlled_by(cur, d) and du.equal_ignore_hash(cur["spec"]["template"], d["spec"]["template"]):
                created, already = cur, True
            else:  # a hash collision: bump collisionCount and try again next sync
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                await self.update_status()
                raise RuntimeError(f"hash collision for replica set {name}; collisionCount bumped") from e
        self.rss.append(created)
        if not already and count > 0:
            self.event("Normal", "ScalingReplicaSet", f"Scaled up replica set {name} to {count} from 0")
        needs = self._set_deployment_revision(str(new_revision))
        if not already and du.has_progress_deadline(d):
            du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED,
                                                      f'Created new replica set "{name}"', self.now))
            needs = True
        if needs:
            await self.update_status()
        return created

    def _new_rs_new_replicas(self, old: list[Obj], new: Obj) -> int:
        """NewRSNewReplicas: how big the new RS may be now."""
        d = self.d
        if not du.is_rolling(d):
            return du.replicas(d)
        current = sum(du.replicas(r) for r in [*old, new])
        max_total = du.replicas(d) + du.max_surge(d)
        if current >= max_total:
            return du.replicas(new)
        up = min(max_total - current, du.replicas(d) - du.replicas(new))
        return du.replicas(new) + up

    # -- status ------------------------------------------------------------------------------------

    def calculate_status(self, new: Obj | None, old: list[Obj]) -> Obj:
        d = self.d
        all_rss = [*old, *([new] if new else [])]
        available = sum(du.st(r, "availableReplicas") for r in all_rss)
        total = sum(du.replicas(r) for r in all_rss)
        status: Obj = {"observedGeneration": d["metadata"].get("generation") or 0,
                       "replicas": sum(du.st(r, "replicas") for r in all_rss),
                       "updatedReplicas": du.st(new, "replicas"),
                       "readyReplicas": sum(du.st(r, "readyReplicas") for r in all_rss),
                       "availableReplicas": available, "unavailableReplicas": max(0, total - available)}
        old_status = d.get("status") or {}
        if old_status.get("collisionCount") is not None:
            status["collisionCount"] = old_status["collisionCount"]
        status = {k: v for k, v in status.items() if v or k == "collisionCount"}  # Go omitempty
        if old_status.get("conditions"):
            status["conditions"] = [dict(c) for c in old_status["conditions"]]
        if available >= du.replicas(d) - du.max_unavailable(d):
            c = du.new_condition(du.AVAILABLE, "True", du.MIN_AVAILABLE, "Deployment has minimum availability.",
                                 self.now)
        else:
            c = du.new_condition(du.AVAILABLE, "False", du.MIN_UNAVAILABLE,
                                 "Deployment does not have minimum availability.", self.now)
        du.set_condition(status, c)
        return status

    async def sync_status_only(self, new: Obj | None, old: list[Obj]) -> None:
        status = self.calculate_status(new, old)
        if status != (self.d.get("status") or {}):
            await self.update_status(status)

    async def sync_rollout_status(self, new: Obj | None, old: list[Obj]) -> None:
        d = self.d
        status = self.calculate_status(new, old)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        cur = du.condition(d.get("status") or {}, du.PROGRESSING)
        is_complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and cur is not None
                       and cur.get("reason") == du.NEW_RS_AVAILABLE)
        if du.has_progress_deadline(d) and not is_complete:
            what = f'ReplicaSet "{new["metadata"]["name"]}"' if new else f'Deployment "{d["metadata"]["name"]}"'
            if du.complete(d, status):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                          f"{what} has successfully progressed.", self.now))
            elif du.progressing(d, status):
                c = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, f"{what} is progressing.", self.now)
                if cur is not None:
                    if cur.get("status") == "True":
                        c["lastTransitionTime"] = cur.get("lastTransitionTime")
                    du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, c)
            elif du.timed_out(d, status, self.now):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                          f"{what} has timed out progressing.", self.now))
        failures = [c for r in ([new] if new else []) + old
                    for c in (r.get("status") or {}).get("conditions") or () if c.get("type") == "ReplicaFailure"]
        if failures:
            f = failures[0]
            du.set_condition(status, {"type": du.REPLICA_FAILURE, "status": f.get("status", "True"),
                                      "lastUpdateTime": f.get("lastTransitionTime"),
                                      "lastTransitionTime": f.get("lastTransitionTime"),
                                      "reason": f.get("reason", ""), "message": f.get("message", "")})
        else:
            du.remove_condition(status, du.REPLICA_FAILURE)
        if status == (d.get("status") or {}):
            self.requeue = self._stuck_requeue(status)
            return
        await self.update_status(status)

    def _stuck_requeue(self, status: Obj) -> float | None:
        """requeueStuckDeployment: come back when the progress deadline would pass."""
        c = du.condition(status, du.PROGRESSING)
        if not du.has_progress_deadline(self.d) or c is None:
            return None
        if c.get("reason") in (du.NEW_RS_AVAILABLE, du.TIMED_OUT):
            return None
        try:
            since = parse_rfc3339(c.get("lastUpdateTime") or "")
        except ValueError:
            return None
        after = since + int(self.d["spec"]["progressDeadlineSeconds"]) - self.now
        return 0.01 if after < 1 else after + 1

    # -- cleanup -----------------------------------------------------------------------------------

    async def cleanup(self, old: list[Obj]) -> None:
        limit = self.d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [r for r in old if not r["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=lambda r: (du.revision(r), creation_time(r), r["metadata"]["name"]))
        for rs in alive[:diff]:
            md = rs["metadata"]
            if (du.st(rs, "replicas") != 0 or du.replicas(rs) != 0
                    or int(md.get("generation") or 0) > du.st(rs, "observedGeneration")):
                continue
            try:
                await self.client.delete(self.rs_rt, md["name"], self.ns, preconditions={"uid": md["uid"]})
            except Exception as e:  # noqa: BLE001 - next sync retries
                log.info("cleanup of %s failed: %s", md["name"], e)
