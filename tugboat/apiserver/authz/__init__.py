"""Authorization: RBAC, the Node authorizer, escalation prevention and the default roles.

`Authorization` bundles the pieces one API server needs: watch-fed caches (roles, bindings,
pods), the union authorizer (`system:masters`, Node, RBAC — upstream's `--authorization-mode=
Node,RBAC`), the escalation admission hook, the default-role reconcile and the ClusterRole
aggregation loop.
"""

from __future__ import annotations

from ..registry import Registry
from .aggregation import Aggregator
from .attrs import Attrs, Decision, attrs_from_req, forbidden_message
from .bootstrap_roles import NODE_RULES
from .cache import PolicyCache
from .escalation import EscalationCheck
from .node import NodeAuthorizer
from .rbac import RBACAuthorizer, rules_for
from .reconcile import reconcile_defaults
from .union import Decider, UnionAuthorizer

__all__ = ["Attrs", "Authorization", "Decision", "UnionAuthorizer", "attrs_from_req", "forbidden_message",
           "rules_for"]


class Authorization:
    def __init__(self, registry: Registry, modes: tuple[str, ...] = ("Node", "RBAC")):
        self.registry = registry
        backend = registry.backend
        self.policy = PolicyCache(backend, registry.scheme)
        pods = registry.scheme.get("", "v1", "pods")
        assert pods is not None
        self.node = NodeAuthorizer(backend, pods.key_prefix, NODE_RULES)
        self.rbac = RBACAuthorizer(self.policy)
        deciders: dict[str, Decider] = {"Node": self.node, "RBAC": self.rbac}
        self.modes = modes
        self.authorizer = UnionAuthorizer([deciders[m] for m in modes])
        self.escalation = EscalationCheck(self.policy, self.authorizer)
        self.aggregator = Aggregator(registry, self.policy.cluster_roles)

    async def start(self) -> None:
        await self.policy.start()
        if "Node" in self.modes:
            await self.node.start()
        await reconcile_defaults(self.registry)
        self.aggregator.start()

    async def stop(self) -> None:
        await self.aggregator.stop()
        await self.node.stop()
        await self.policy.stop()
