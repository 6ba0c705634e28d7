"""Label and annotation keys the agent puts on sandboxes and containers.

The runtime is the agent's only durable memory: after a restart the agent rebuilds each pod's
state from what `list_sandboxes`/`list_containers` return, so everything it must remember
(which pod and container a runtime object belongs to, its restart count) travels in labels,
with the same keys the kubelet uses (`io.kubernetes.*`).
"""

from __future__ import annotations

from typing import Any

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
CONTAINER_RESTART_COUNT = "io.kubernetes.container.restartCount"
CONTAINER_KIND = "io.tugboat.container.kind"  # "init" | "app"
CONTAINER_ID_PREFIX = "tugboat://"
KUBELET_VERSION = "v1.32.0-tugboat"


def pod_labels(pod: dict[str, Any]) -> dict[str, str]:
    md = pod.get("metadata") or {}
    return {POD_UID: str(md.get("uid", "")), POD_NAME: str(md.get("name", "")),
            POD_NAMESPACE: str(md.get("namespace", ""))}


def format_pod(pod: dict[str, Any]) -> str:
    """upstream format.Pod: `name_namespace(uid)`, used in event and back-off messages."""
    md = pod.get("metadata") or {}
    return f"{md.get('name', '')}_{md.get('namespace', '')}({md.get('uid', '')})"
