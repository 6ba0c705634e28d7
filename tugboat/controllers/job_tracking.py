"""Counting finished Job pods exactly once, with the `batch.kubernetes.io/job-tracking` finalizer.

Every Job pod is created with the finalizer, so it cannot vanish before the controller has
counted it. Upstream's three-step protocol makes counting crash-safe:
1. record the UIDs of newly finished pods in `status.uncountedTerminatedPods` (one status write),
2. remove the finalizer from those pods (they may now be deleted),
3. fold the uncounted UIDs into `succeeded` / `failed` / `completedIndexes` and clear them.
A controller restarted between any two steps neither loses nor double-counts a pod: a pod
without the finalizer is never counted again, and uncounted UIDs are folded exactly once.
A pod deleted before it finished (terminating, phase not Succeeded) counts as failed, as
upstream does with the default podReplacementPolicy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tugboat.client import Client, is_not_found

from ._workload_pods import PODS, Obj, is_terminating, meta, phase
from .job_util import TRACKING_FINALIZER, parse_indexes, pod_index


def has_finalizer(pod: Mapping[str, Any]) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or ())


def counts_as_failed(pod: Mapping[str, Any]) -> bool:
    return phase(pod) == "Failed" or (is_terminating(pod) and phase(pod) != "Succeeded")


@dataclass
class Tally:
    """Counts after folding (step 3), plus what this pass learned for back-off."""

    succeeded: int
    failed: int
    completed: set[int]
    new_failures: int = 0
    new_successes: int = 0
    uncounted_s: set[str] = field(default_factory=set)
    uncounted_f: set[str] = field(default_factory=set)


async def remove_finalizer(client: Client, pod: Mapping[str, Any]) -> None:
    fins = [f for f in meta(pod).get("finalizers") or () if f != TRACKING_FINALIZER]
    body = {"metadata": {"finalizers": fins or None, "resourceVersion": meta(pod).get("resourceVersion")}}
    try:
        await client.patch(PODS, meta(pod)["name"], body, meta(pod)["namespace"])
    except Exception as e:
        if not is_not_found(e):
            raise


def new_finished(pods: list[Obj], status: Mapping[str, Any]) -> tuple[list[Obj], list[Obj]]:
    """(succeeded, failed) pods that still carry the finalizer and are not yet recorded."""
    unc = status.get("uncountedTerminatedPods") or {}
    seen = set(unc.get("succeeded") or ()) | set(unc.get("failed") or ())
    s, f = [], []
    for p in pods:
        if not has_finalizer(p) or meta(p).get("uid") in seen:
            continue
        if phase(p) == "Succeeded":
            s.append(p)
        elif counts_as_failed(p):
            f.append(p)
    return s, f


def fold(status: Mapping[str, Any], pods_by_uid: Mapping[str, Obj], indexed: bool, completions: int) -> Tally:
    """Step 3: move uncounted UIDs into the counters."""
    unc = status.get("uncountedTerminatedPods") or {}
    t = Tally(succeeded=int(status.get("succeeded") or 0), failed=int(status.get("failed") or 0),
              completed=parse_indexes(status.get("completedIndexes"), completions) if indexed else set())
    for uid in unc.get("succeeded") or ():
        t.new_successes += 1
        if indexed:
            idx = pod_index(pods_by_uid.get(uid) or {})
            if idx is not None and 0 <= idx < completions:
                t.completed.add(idx)
        else:
            t.succeeded += 1
    for _uid in unc.get("failed") or ():
        t.failed += 1
        t.new_failures += 1
    if indexed:
        t.succeeded = len(t.completed)
    return t
