"""NodeUnschedulable, NodeName and NodePorts: the one-line filters.

They only run for pods they concern: NodeName when spec.nodeName is set, NodePorts when the
pod asks for host ports; NodeUnschedulable is a single attribute check on a schedulable node.
"""

from __future__ import annotations

from collections.abc import Hashable

from tugboat.scheduler import events as ev
from tugboat.scheduler.framework import CycleState, Plugin
from tugboat.scheduler.helpers import tolerated
from tugboat.scheduler.nodeinfo import NodeInfo
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status, unresolvable, unschedulable

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_PORTS = "node(s) didn't have free ports for the requested pod ports"


class NodeUnschedulable(Plugin):
    name = "NodeUnschedulable"
    events = frozenset({ev.NODE_ADD, ev.NODE_TAINT})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        return SKIP if pi.tolerations and tolerated(pi.tolerations, UNSCHEDULABLE_TAINT) else None

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable:
        return ()

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        return unresolvable(ERR_UNSCHEDULABLE) if ni.unschedulable else None


class NodeName(Plugin):
    name = "NodeName"
    events = frozenset({ev.NODE_ADD})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        return None if pi.node_name else SKIP

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable:
        return pi.node_name

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        return None if ni.name == pi.node_name else unresolvable(ERR_NODE_NAME)


class NodePorts(Plugin):
    name = "NodePorts"
    events = frozenset({ev.NODE_ADD, ev.POD_DELETE})

    def pre_filter(self, state: CycleState, pi: PodInfo) -> Status | None:
        return None if pi.ports else SKIP

    def signature(self, state: CycleState, pi: PodInfo) -> Hashable:
        return tuple(pi.ports)

    def filter(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> Status | None:
        return unschedulable(ERR_PORTS) if ni.port_conflict(pi.ports) else None
