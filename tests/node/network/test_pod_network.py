"""PodNetwork with the real CNI plugins in network namespaces the test creates (as root)."""

from __future__ import annotations

import os
import random
import secrets
import subprocess
from collections.abc import AsyncIterator

import pytest

from tugboat.node.network import CNIError, PodNetwork

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/bridge"),
                                reason="needs root and containernetworking-plugins")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


@pytest.fixture
async def net(tmp_path: object) -> AsyncIterator[PodNetwork]:
    tag = secrets.token_hex(3)
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    pn = PodNetwork(f"10.250.{random.randint(100, 199)}.0/24", bridge=f"tgn{tag}", conf_dir=str(tmp_path),
                    network_name=f"tgn{tag}", cluster_cidr="10.250.0.0/16")
    names = [f"tgn{tag}-a", f"tgn{tag}-b"]
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
    try:
        yield pn
    finally:
        await pn.destroy()
        for n in names:
            subprocess.run(["ip", "netns", "del", n])
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forward)


def netns(pn: PodNetwork, which: str) -> str:
    return f"/run/netns/{pn.bridge}-{which}"


def in_ns(pn: PodNetwork, which: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", f"{pn.bridge}-{which}", *cmd], capture_output=True, text=True)


async def test_setup_gives_each_pod_an_ip_on_the_bridge_and_teardown_is_idempotent(net: PodNetwork) -> None:
    a = await net.setup("sandbox-a", netns(net, "a"))
    b = await net.setup("sandbox-b", netns(net, "b"))
    prefix = net.pod_cidr.rsplit(".", 1)[0] + "."
    assert a.ip.startswith(prefix) and b.ip.startswith(prefix) and a.ip != b.ip
    assert a.gateway == prefix + "1" and a.prefix_len == 24
    assert f"inet {a.ip}/24" in in_ns(net, "a", "ip", "addr", "show", "eth0").stdout
    assert "default via " + a.gateway in in_ns(net, "a", "ip", "route").stdout
    assert "state UNKNOWN" in in_ns(net, "a", "ip", "link", "show", "lo").stdout  # loopback is up
    assert len([line for line in sh("ip", "-o", "link").splitlines() if f"master {net.bridge} " in line]) == 2
    # pod-to-pod through the bridge, and from the host to the pod (both in our own netns)
    assert in_ns(net, "a", "busybox", "ping", "-c1", "-W2", b.ip).returncode == 0
    assert subprocess.run(["busybox", "ping", "-c1", "-W2", a.ip], capture_output=True).returncode == 0
    await net.check("sandbox-a")
    # a new object over the same conf_dir (agent restart) tears down with the cached result
    again = PodNetwork(net.pod_cidr, bridge=net.bridge, conf_dir=net.conf_dir, network_name=net.network_name)
    assert again.status("sandbox-a") == a
    await again.teardown("sandbox-a")
    await again.teardown("sandbox-a")
    assert "eth0" not in in_ns(net, "a", "ip", "-o", "link").stdout
    assert again.status("sandbox-a") is None
    c = await net.setup("sandbox-c", netns(net, "a"))  # the released address is free again
    assert c.ip.startswith(prefix)


async def test_host_port_mappings_create_and_remove_dnat_rules(net: PodNetwork) -> None:
    st = await net.setup("sandbox-p", netns(net, "a"), port_mappings=[
        {"containerPort": 80, "hostPort": 18123, "protocol": "TCP"}, {"containerPort": 81}])
    nat = sh("iptables", "-w", "5", "-t", "nat", "-S")
    assert f"--to-destination {st.ip}:80" in nat and ":81" not in nat
    await net.teardown("sandbox-p")
    assert st.ip not in sh("iptables", "-w", "5", "-t", "nat", "-S")


async def test_masquerade_and_forward_rules_are_node_level_and_removed_by_destroy(net: PodNetwork) -> None:
    await net.setup("sandbox-a", netns(net, "a"))
    nat = sh("iptables", "-w", "5", "-t", "nat", "-S", f"TUGBOAT-MASQ-{net.bridge}")
    assert "-d 10.250.0.0/16 -j RETURN" in nat and "-j MASQUERADE" in nat
    await net.destroy()
    everything = sh("iptables", "-w", "5", "-S") + sh("iptables", "-w", "5", "-t", "nat", "-S")
    assert net.bridge not in everything and net.network_name not in everything
    assert net.bridge not in sh("ip", "-o", "link")


async def test_setup_failure_is_reported_and_rolled_back(net: PodNetwork) -> None:
    with pytest.raises(CNIError):
        await net.setup("sandbox-x", "/run/netns/does-not-exist-" + net.bridge)
    assert net.status("sandbox-x") is None
    assert not os.listdir(os.path.join(net.data_dir, net.network_name)) or all(
        not f[0].isdigit() for f in os.listdir(os.path.join(net.data_dir, net.network_name)))
