"""host-gw routes from Node objects, in a network namespace the test creates (as root).

The namespace plays one node: an interface with an address on a test subnet, so routes
`via` other nodes' addresses are valid; the API server is the in-process one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tugboat.client import Client
from tugboat.node.network.hostgw import NODE, HostGateway, desired_routes, parse_routes

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
SUBNET = "172.31.250"


def node(name: str, ip: str, cidr: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}


def test_desired_routes_skip_self_and_incomplete_nodes() -> None:
    nodes = [node("a", "172.31.1.10", "10.244.0.0/24"), node("b", "172.31.1.11", "10.244.1.0/24"),
             {"metadata": {"name": "c"}, "spec": {"podCIDR": "10.244.2.0/24"}, "status": {}},
             {"metadata": {"name": "d"}, "spec": {}, "status": node("d", "172.31.1.13", "x")["status"]}]
    assert desired_routes(nodes, "a") == {"10.244.1.0/24": "172.31.1.11"}
    assert desired_routes(nodes, "b") == {"10.244.0.0/24": "172.31.1.10"}


def test_parse_routes() -> None:
    text = ("10.244.1.0/24 via 172.31.1.11 dev eth0 proto 117\n"
            "unreachable 10.244.0.0/16 proto 117\n10.9.9.9 via 172.31.1.12 dev eth0\n")
    via, unreachable = parse_routes(text)
    assert via == {"10.244.1.0/24": "172.31.1.11", "10.9.9.9/32": "172.31.1.12"}
    assert unreachable == {"10.244.0.0/16"}


@pytest.fixture
def netns() -> Any:
    name = f"tghgw{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        # a veth pair with both ends inside: a link with carrier for the test subnet
        for cmd in (["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
                    ["addr", "add", f"{SUBNET}.10/24", "dev", "eth0"], ["link", "set", "eth0p", "up"],
                    ["link", "set", "eth0", "up"], ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])


def routes(ns: str) -> str:
    return subprocess.run(["ip", "-n", ns, "-4", "route", "show"], capture_output=True, text=True).stdout


@pytest.fixture
async def api() -> AsyncIterator[Client]:
    async with running_apiserver() as (_, client):
        yield client


@needs_root
async def test_routes_follow_nodes_and_are_removed_on_stop(netns: str, api: Client) -> None:
    assert NODE is not None
    await api.create(NODE, node("me", f"{SUBNET}.10", "10.244.0.0/24"))
    await api.create(NODE, node("b", f"{SUBNET}.11", "10.244.1.0/24"))
    # a route someone else added for another prefix is never touched
    subprocess.run(["ip", "-n", netns, "route", "add", "10.99.0.0/24", "via", f"{SUBNET}.99"], check=True)
    gw = HostGateway(api, "me", cluster_cidr="10.244.0.0/16", netns=netns, resync_period=0.2)
    await gw.start()
    try:
        r = routes(netns)
        assert f"10.244.1.0/24 via {SUBNET}.11" in r
        assert "unreachable 10.244.0.0/16" in r
        assert "10.244.0.0/24 via" not in r  # never a route to our own podCIDR

        await api.create(NODE, node("c", f"{SUBNET}.12", "10.244.2.0/24"))
        await eventually(lambda: _has(netns, f"10.244.2.0/24 via {SUBNET}.12"), what="route to a joining node")

        # a node's address changes: the route follows
        moved = await api.get(NODE, "c")
        moved["status"]["addresses"][0]["address"] = f"{SUBNET}.13"
        await api.update_status(NODE, moved)
        await eventually(lambda: _has(netns, f"10.244.2.0/24 via {SUBNET}.13"), what="route follows the address")

        # a node leaves: its route goes
        await api.delete(NODE, "b")
        await eventually(lambda: _lacks(netns, "10.244.1.0/24"), what="route of a deleted node removed")

        # someone deletes our route: the resync puts it back
        subprocess.run(["ip", "-n", netns, "route", "del", "10.244.2.0/24"], check=True)
        await eventually(lambda: _has(netns, f"10.244.2.0/24 via {SUBNET}.13"), what="deleted route restored")
    finally:
        await gw.stop()
    r = routes(netns)
    assert "10.244." not in r, r
    assert f"10.99.0.0/24 via {SUBNET}.99" in r


@needs_root
async def test_stale_routes_of_a_crashed_run_are_removed(netns: str, api: Client) -> None:
    assert NODE is not None
    await api.create(NODE, node("me", f"{SUBNET}.10", "10.244.0.0/24"))
    subprocess.run(["ip", "-n", netns, "route", "add", "10.244.7.0/24", "via", f"{SUBNET}.77", "proto", "117"],
                   check=True)
    gw = HostGateway(api, "me", netns=netns)
    await gw.start()
    try:
        assert "10.244.7.0/24" not in routes(netns)
    finally:
        await gw.stop()


async def _has(ns: str, text: str) -> bool:
    return text in routes(ns)


async def _lacks(ns: str, text: str) -> bool:
    return text not in routes(ns)
