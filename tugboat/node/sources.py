"""Where agents learn about their pods and their Node: informers shared across agents.

A real node watches only its own pods (`fieldSelector=spec.nodeName=<node>`) and its own Node
(`metadata.name=<node>`). Simulated nodes in one process share ONE pod informer and ONE node
informer (indexed by node name) and a dispatcher hands each event to the agent it concerns,
so a thousand hollow nodes cost two watch connections, not two thousand.
"""

from __future__ import annotations

from typing import Any, Protocol

from tugboat.api.scheme import ResourceType, default_scheme
from tugboat.client import Client, SharedInformer, deleted_object

_pt = default_scheme().by_kind("", "v1", "Pod")
_nt = default_scheme().by_kind("", "v1", "Node")
assert _pt is not None and _nt is not None
POD: ResourceType = _pt
NODE: ResourceType = _nt
NODE_NAME_INDEX = "nodeName"


class AgentSink(Protocol):
    node_name: str

    def pod_changed(self, pod: dict[str, Any]) -> None: ...

    def pod_deleted(self, pod: dict[str, Any]) -> None: ...

    def node_changed(self, node: dict[str, Any]) -> None: ...


def _node_of(pod: dict[str, Any]) -> list[str]:
    n = (pod.get("spec") or {}).get("nodeName")
    return [n] if n else []


class AgentSources:
    def __init__(self, client: Client, node_name: str | None = None):
        """`node_name`: watch only that node's pods/Node; None: every node (simulated agents)."""
        self.single = node_name
        pod_fs = f"spec.nodeName={node_name}" if node_name else None
        node_fs = f"metadata.name={node_name}" if node_name else None
        self.pods = SharedInformer(client, POD, field_selector=pod_fs, indexers={NODE_NAME_INDEX: _node_of})
        self.nodes = SharedInformer(client, NODE, field_selector=node_fs)
        self._agents: dict[str, AgentSink] = {}
        self.pods.add_event_handler(on_add=self._pod, on_update=lambda _o, n: self._pod(n), on_delete=self._pod_del)
        self.nodes.add_event_handler(on_add=self._node, on_update=lambda _o, n: self._node(n))

    def register(self, agent: AgentSink) -> None:
        self._agents[agent.node_name] = agent
        for pod in self.pods.indexer.by_index(NODE_NAME_INDEX, agent.node_name):
            agent.pod_changed(pod)
        node = self.nodes.indexer.get(agent.node_name)
        if node is not None:
            agent.node_changed(node)

    def unregister(self, agent: AgentSink) -> None:
        if self._agents.get(agent.node_name) is agent:
            del self._agents[agent.node_name]

    def pods_on(self, node_name: str) -> list[dict[str, Any]]:
        return self.pods.indexer.by_index(NODE_NAME_INDEX, node_name)

    def _pod(self, pod: dict[str, Any]) -> None:
        for n in _node_of(pod):
            a = self._agents.get(n)
            if a is not None:
                a.pod_changed(pod)

    def _pod_del(self, obj: Any) -> None:
        pod = deleted_object(obj)
        for n in _node_of(pod):
            a = self._agents.get(n)
            if a is not None:
                a.pod_deleted(pod)

    def _node(self, node: dict[str, Any]) -> None:
        a = self._agents.get((node.get("metadata") or {}).get("name", ""))
        if a is not None:
            a.node_changed(node)

    def start(self) -> None:
        self.pods.start()
        self.nodes.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        return await self.pods.wait_for_sync(timeout) and await self.nodes.wait_for_sync(timeout)

    async def stop(self) -> None:
        await self.pods.stop()
        await self.nodes.stop()
