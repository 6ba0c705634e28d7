"""Pod networking for the node agent: CNI plugins driven directly (see pod_network.py)."""

from tugboat.node.network.cni import CNIError
from tugboat.node.network.pod_network import NetworkStatus, PodNetwork

__all__ = ["CNIError", "NetworkStatus", "PodNetwork"]
