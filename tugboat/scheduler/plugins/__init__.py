"""The default plugin set, in upstream's order, with upstream's score weights."""

from __future__ import annotations

from tugboat.scheduler.framework import Plugin
from tugboat.scheduler.plugins.basic import NodeName, NodePorts, NodeUnschedulable
from tugboat.scheduler.plugins.binder import DefaultBinder
from tugboat.scheduler.plugins.images import ImageLocality
from tugboat.scheduler.plugins.interpod import InterPodAffinity
from tugboat.scheduler.plugins.nodeaffinity import NodeAffinity
from tugboat.scheduler.plugins.preemption import DefaultPreemption
from tugboat.scheduler.plugins.resources import BalancedAllocation, NodeResourcesFit
from tugboat.scheduler.plugins.spread import PodTopologySpread
from tugboat.scheduler.plugins.taints import TaintToleration
from tugboat.scheduler.plugins.volume_binding import VolumeBinding
from tugboat.scheduler.plugins.volume_restrictions import VolumeRestrictions

DEFAULT_PLUGINS: list[type[Plugin]] = [
    NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, VolumeRestrictions,
    PodTopologySpread, InterPodAffinity, BalancedAllocation, ImageLocality, DefaultPreemption,
    VolumeBinding, DefaultBinder,
]
REGISTRY: dict[str, type[Plugin]] = {p.name: p for p in DEFAULT_PLUGINS}

__all__ = ["DEFAULT_PLUGINS", "REGISTRY"]
