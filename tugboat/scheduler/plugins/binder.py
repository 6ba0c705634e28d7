"""DefaultBinder: one POST to pods/<name>/binding, as upstream (the API server sets
spec.nodeName and the PodScheduled=True condition)."""

from __future__ import annotations

from tugboat.client.errors import ApiStatusError
from tugboat.scheduler.framework import CycleState, Plugin
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import Code, Status


class DefaultBinder(Plugin):
    name = "DefaultBinder"

    async def bind(self, state: CycleState, pi: PodInfo, node: str) -> Status | None:
        client = self.handle.client
        if client is None:
            return Status(Code.ERROR, "no API client")
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pi.name, "namespace": pi.namespace, "uid": pi.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await client.request("POST", f"/api/v1/namespaces/{pi.namespace}/pods/{pi.name}/binding", body=body)
        except ApiStatusError as e:
            return Status(Code.ERROR, f"binding rejected: {e}")
        return None
