"""NetworkPolicy enforcement on a node: iptables chains (TUGBOAT-NETPOL-*, TUGBOAT-NP?-*) for
the pods of this node, kept in step with pods, namespaces and policies (see enforcer.py)."""

from tugboat.netpol.enforcer import PolicyEnforcer

__all__ = ["PolicyEnforcer"]
