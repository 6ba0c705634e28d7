"""Find a pod and its containers on this node from (namespace, name, container): the shared
first step of every agent-server handler.

Pods come from the agent's own records (what its informer saw bound to this node); the
containers from the runtime, by the labels the agent put on them (keys.py). `latest` is the
newest attempt of the container, `previous` the one before it (`kubectl logs --previous`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tugboat.node import keys
from tugboat.node.runtime.base import ContainerStatus


class Unavailable(Exception):
    """Not found / not available: `code` is the HTTP status, `reason` the Status reason."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class Target:
    pod: dict[str, Any]
    uid: str
    container: str
    latest: ContainerStatus | None
    previous: ContainerStatus | None


def find_pod(agent: Any, namespace: str, name: str) -> dict[str, Any]:
    for rec in list(agent.records.values()):
        md = rec.pod.get("metadata") or {}
        if md.get("namespace") == namespace and md.get("name") == name and not rec.gone:
            pod: dict[str, Any] = rec.pod
            return pod
    raise Unavailable(404, "NotFound", f"pod {namespace}/{name} does not exist on node {agent.node_name}")


async def find_container(agent: Any, namespace: str, name: str, container: str) -> Target:
    pod = find_pod(agent, namespace, name)
    spec = pod.get("spec") or {}
    names = {c.get("name") for k in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(k) or []}
    if container not in names:
        raise Unavailable(400, "BadRequest", f"container {container} is not valid for pod {name}")
    uid = str((pod.get("metadata") or {}).get("uid", ""))
    mine = [c for c in await agent.runtime.list_containers()
            if c.labels.get(keys.POD_UID) == uid and c.labels.get(keys.CONTAINER_NAME, c.name) == container]
    mine.sort(key=lambda c: (c.attempt, c.created_at))
    latest = mine[-1] if mine else None
    previous = mine[-2] if len(mine) > 1 else None
    return Target(pod, uid, container, latest, previous)


def log_path(agent: Any, target: Target, st: ContainerStatus) -> str:
    """Where the runtime writes this container attempt's CRI log (containers.py decides it)."""
    return os.path.join(agent.log_dir(target.pod), target.container, f"{st.attempt}.log")


def waiting_reason(target: Target) -> str:
    st = target.pod.get("status") or {}
    for c in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        if c.get("name") == target.container:
            w = (c.get("state") or {}).get("waiting") or {}
            if w.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                return "image can't be pulled"
            return str(w.get("reason") or "ContainerCreating")
    return "ContainerCreating"


LookupError_ = Unavailable  # the first name of this class (other modules may still import it)
