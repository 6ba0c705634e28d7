"""NetworkPolicy enforcement with real iptables, in network namespaces the test owns (root).

The node is tests/proxy/netenv.py's: a bridge in a "node" netns with pod netns p1 p2 p3 c on
it. The enforcer programs the node netns from the in-process API server, where the test
creates the matching Pod objects (same IPs), namespaces and policies, and every check is a
real TCP connection between the namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.proxy.netenv import _SERVER, PODS, SERVER_PORT, NetEnv
from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tugboat.client import Client
from tugboat.netpol.enforcer import NAMESPACE, NETPOL, POD, PolicyEnforcer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, iptables)")
NODE = "np-node"
OTHER_PORT = 9090
# pod → (namespace, labels); p1 is the server
LAYOUT = {"p1": ("np-a", {"app": "web"}), "p2": ("np-a", {"app": "client"}), "p3": ("np-b", {"app": "client"}),
          "c": ("np-a", {"app": "other"})}


def pod(name: str) -> dict[str, Any]:
    ns, labels = LAYOUT[name]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox", "ports": [
                {"name": "http", "containerPort": SERVER_PORT}, {"name": "other", "containerPort": OTHER_PORT}]}]}}


def policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


@pytest.fixture
async def env() -> AsyncIterator[NetEnv]:
    e = NetEnv()
    try:
        e.setup()
        e.start_servers(("p1",))
        p = subprocess.Popen(["ip", "netns", "exec", e.pods["p1"], sys.executable, "-c", _SERVER, "p1-other",
                              str(OTHER_PORT)], stdout=subprocess.PIPE, text=True)
        e.servers.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield e
    finally:
        e.close()


@pytest.fixture
async def cluster(env: NetEnv) -> AsyncIterator[tuple[Client, PolicyEnforcer]]:
    assert POD is not None and NAMESPACE is not None
    async with running_apiserver() as (_, client):
        for ns, team in (("np-a", "a"), ("np-b", "b")):
            await client.create(NAMESPACE, {"metadata": {"name": ns, "labels": {"team": team}}})
        for name in LAYOUT:
            created = await client.create(POD, pod(name), LAYOUT[name][0])
            created["status"] = {"phase": "Running", "podIP": PODS[name], "podIPs": [{"ip": PODS[name]}]}
            await client.update_status(POD, created, LAYOUT[name][0])
        enf = PolicyEnforcer(client, NODE, netns=env.node, min_sync_period=0.05, resync_period=0.5)
        await enf.start()
        try:
            yield client, enf
        finally:
            await enf.stop()
            left = env.ns("iptables-save", "-t", "filter")
            assert "TUGBOAT-N" not in left, left


async def reaches(env: NetEnv, frm: str, port: int = SERVER_PORT) -> bool:
    out = await env.connect(PODS["p1"], port, frm=frm, timeout=1.0)
    return bool(out) and not out[0].startswith("ERR")


async def expect(env: NetEnv, want: dict[tuple[str, int], bool], what: str) -> None:
    async def ok() -> bool:
        for (frm, port), allowed in want.items():
            if await reaches(env, frm, port) != allowed:
                return False
        return True
    await eventually(ok, timeout=20, what=what)


async def test_policies_block_and_allow_as_written(env: NetEnv, cluster: tuple[Client, PolicyEnforcer]) -> None:
    client, enf = cluster
    assert NETPOL is not None
    P = SERVER_PORT
    # no policy: everyone reaches p1
    await expect(env, {("p2", P): True, ("p3", P): True, ("c", P): True}, "open network without policies")

    # default deny ingress for np-a: p1 is cut off from every pod, but the node itself still reaches it
    await client.create(NETPOL, policy("np-a", "deny", {"podSelector": {}}), "np-a")
    await expect(env, {("p2", P): False, ("p3", P): False, ("c", P): False}, "default deny")
    assert (await env.connect(PODS["p1"], P, frm="node"))[0] == "p1 " + "10.244.77.1"

    # allow app=client of the same namespace to the named port "http" only
    await client.create(NETPOL, policy("np-a", "web-from-clients", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": "http"}]}]}),
        "np-a")
    await expect(env, {("p2", P): True, ("p2", OTHER_PORT): False, ("p3", P): False, ("c", P): False},
                 "pod selector + named port")

    # by namespace: everything from namespaces labelled team=b, on a port range
    await client.create(NETPOL, policy("np-a", "web-from-team-b", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}],
                     "ports": [{"port": 9000, "endPort": 9100}]}]}), "np-a")
    await expect(env, {("p3", OTHER_PORT): True, ("p3", P): False, ("c", OTHER_PORT): False},
                 "namespace selector + endPort")

    # egress isolation of the client pods of np-a: p2 may no longer reach p1, though p1 allows it
    await client.create(NETPOL, policy("np-a", "clients-no-egress", {
        "podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"]}), "np-a")
    await expect(env, {("p2", P): False}, "egress deny")

    # ipBlock with except: c (10.244.77.20) is in the block's except list, p2 is not
    await client.delete(NETPOL, "clients-no-egress", "np-a")
    await client.create(NETPOL, policy("np-a", "web-from-block", {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.77.0/24", "except": ["10.244.77.20/32"]}}],
                     "ports": [{"port": OTHER_PORT}]}]}), "np-a")
    await expect(env, {("p2", OTHER_PORT): True, ("c", OTHER_PORT): False, ("p2", P): True}, "ipBlock except")

    # a policy deleted: its allowances go
    await client.delete(NETPOL, "web-from-clients", "np-a")
    await expect(env, {("p2", P): False}, "deleted policy no longer allows")
    assert enf.syncs > 1


async def test_rules_repaired_after_flush_and_jump_kept_first(env: NetEnv,
                                                              cluster: tuple[Client, PolicyEnforcer]) -> None:
    client, enf = cluster
    assert NETPOL is not None
    await client.create(NETPOL, policy("np-a", "deny", {"podSelector": {}}), "np-a")
    await expect(env, {("p2", SERVER_PORT): False}, "default deny")
    # another component inserts an ACCEPT at the top of FORWARD (as the pod bridge rules do)
    env.ns("iptables", "-w", "5", "-I", "FORWARD", "1", "-j", "ACCEPT")
    try:
        await expect(env, {("p2", SERVER_PORT): False}, "policy still enforced")
        await eventually(lambda: _first_forward_is_ours(env), timeout=20, what="our jump back at rule 1")
        env.ns("iptables", "-w", "5", "-F", "TUGBOAT-NETPOL-FWD")
        await expect(env, {("p2", SERVER_PORT): False}, "rules restored after a flush")
    finally:
        env.ns("iptables", "-w", "5", "-D", "FORWARD", "-j", "ACCEPT", check=False)


async def _first_forward_is_ours(env: NetEnv) -> bool:
    lines = [ln for ln in env.ns("iptables", "-w", "5", "-S", "FORWARD").splitlines() if ln.startswith("-A")]
    return bool(lines) and lines[0].endswith("-j TUGBOAT-NETPOL-FWD")
