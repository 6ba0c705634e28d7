"""Node-level iptables rules for the pod bridge: masquerade egress, accept forwarding.

The bridge plugin's own `ipMasq` adds a chain and three rules *per pod* and masquerades
everything leaving the pod subnet — including traffic to other nodes' pods, which must keep
its source IP. Instead the node installs two chains once (named with the tugboat prefix and
the bridge, so a test bridge never touches the real one):

  nat    TUGBOAT-MASQ-<bridge>: from the pod CIDR, RETURN for the cluster CIDR, the pod CIDR
         and multicast, MASQUERADE the rest (jumped to from POSTROUTING);
  filter TUGBOAT-FWD-<bridge>: ACCEPT forwarding in and out of the bridge (hosts whose
         FORWARD policy is DROP would otherwise cut pods off; jumped to from FORWARD).

`remove()` deletes exactly these chains and jumps.
"""

from __future__ import annotations

import asyncio


class IptablesError(Exception):
    pass


async def iptables(*args: str, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "iptables", "-w", "5", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    rc = proc.returncode or 0
    if check and rc != 0:
        raise IptablesError(f"iptables {' '.join(args)}: {err.decode().strip()}")
    return rc, out.decode()


def chain_names(bridge: str) -> tuple[str, str]:
    return f"TUGBOAT-MASQ-{bridge}", f"TUGBOAT-FWD-{bridge}"


def _jumps(bridge: str, pod_cidr: str) -> list[tuple[str, str, list[str]]]:
    masq, fwd = chain_names(bridge)
    comment = ["-m", "comment", "--comment", f"tugboat pods on {bridge}"]
    return [("nat", "POSTROUTING", ["-s", pod_cidr, *comment, "-j", masq]),
            ("filter", "FORWARD", ["-i", bridge, *comment, "-j", fwd]),
            ("filter", "FORWARD", ["-o", bridge, *comment, "-j", fwd])]


async def ensure(bridge: str, pod_cidr: str, cluster_cidr: str | None) -> None:
    masq, fwd = chain_names(bridge)
    for table, chain in (("nat", masq), ("filter", fwd)):
        await iptables("-t", table, "-N", chain, check=False)
        await iptables("-t", table, "-F", chain)
    for dst in [c for c in (cluster_cidr, pod_cidr, "224.0.0.0/4") if c]:
        await iptables("-t", "nat", "-A", masq, "-d", dst, "-j", "RETURN")
    await iptables("-t", "nat", "-A", masq, "-j", "MASQUERADE")
    await iptables("-t", "filter", "-A", fwd, "-j", "ACCEPT")
    for table, chain, rule in _jumps(bridge, pod_cidr):
        rc, _ = await iptables("-t", table, "-C", chain, *rule, check=False)
        if rc != 0:
            await iptables("-t", table, "-I", chain, "1", *rule)


async def remove(bridge: str, pod_cidr: str) -> None:
    masq, fwd = chain_names(bridge)
    for table, chain, rule in _jumps(bridge, pod_cidr):
        while (await iptables("-t", table, "-D", chain, *rule, check=False))[0] == 0:
            pass
    for table, chain in (("nat", masq), ("filter", fwd)):
        await iptables("-t", table, "-F", chain, check=False)
        await iptables("-t", table, "-X", chain, check=False)


PORTMAP_JUMPS = [("PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"]),
                 ("OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"]),
                 ("POSTROUTING", ["-m", "comment", "--comment", "CNI portfwd requiring masquerade",
                                  "-j", "CNI-HOSTPORT-MASQ"])]
PORTMAP_CHAINS = ["CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"]


async def remove_portmap_if_unused() -> bool:
    """The portmap plugin leaves its node-wide CNI-HOSTPORT-* chains behind after the last
    DEL; remove them when no pod's DNAT chain hangs off them any more (other CNI users on
    the host would still have rules there). Returns True when removed."""
    rc, out = await iptables("-t", "nat", "-S", "CNI-HOSTPORT-DNAT", check=False)
    if rc != 0:
        return False
    if any(line.startswith("-A ") for line in out.splitlines()):
        return False
    for chain, rule in PORTMAP_JUMPS:
        while (await iptables("-t", "nat", "-D", chain, *rule, check=False))[0] == 0:
            pass
    for chain in PORTMAP_CHAINS:
        await iptables("-t", "nat", "-F", chain, check=False)
        await iptables("-t", "nat", "-X", chain, check=False)
    return True
