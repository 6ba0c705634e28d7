"""The service proxy (kube-proxy's iptables mode): Services + EndpointSlices → iptables rules.

    proxy = ServiceProxy(client, ProxyConfig(node_name="node-1"))
    await proxy.start()      # host routes, informers, first full sync, sync loop, ServiceLB
    ...
    await proxy.stop()       # removes every TUGBOAT chain/jump it owns and its host routes

`cleanup_rules()` removes leftovers of a proxy that died (`tug proxy --cleanup`).
"""

from tugboat.proxy.proxier import ProxyConfig, ServiceProxy, SyncResult, cleanup_rules

__all__ = ["ProxyConfig", "ServiceProxy", "SyncResult", "cleanup_rules"]
