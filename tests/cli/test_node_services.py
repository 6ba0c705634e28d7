"""`tug node-services`: agent, proxy and DNS segments in one process (the memory fix of issue 6).

What a user relies on: `tug server` builds one node process whose segments are the very argv
of `tug agent` / `tug proxy` / `tug dns` (extra --*-arg flags pass through), DNS finds the
node's pod gateway by itself, and one part failing stops the process (so the supervisor
restarts it) instead of leaving a node that looks healthy without DNS.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import pytest
import yaml

from tests.support.apiserver import running_apiserver
from tests.support.wait import eventually
from tugboat.cli.main import build_parser
from tugboat.cli.node_components import NodeConfig, node_services_argv
from tugboat.cli.node_services import (
    is_local_address,
    parse_parts,
    run_node_services,
    split_parts,
    wait_node_gateway,
)
from tugboat.cli.progress import dns_answers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": server}}],
        "contexts": [{"name": "t", "context": {"cluster": "t"}}], "users": []}))
    return path


def test_split_and_parse_segments() -> None:
    assert split_parts(["proxy", "-a", "--and", "--and", "dns", "-b"]) == [["proxy", "-a"], ["dns", "-b"]]
    parts = parse_parts(["proxy", "--kubeconfig", "p", "--node-name", "n1", "--and",
                         "dns", "--kubeconfig", "d", "--listen", "node-gateway:53", "--upstream", "127.0.0.1:9"])
    assert parts["proxy"].node_name == "n1" and parts["proxy"].kubeconfig == "p"
    assert parts["dns"].listen == "node-gateway:53" and parts["dns"].upstream == ["127.0.0.1:9"]
    with pytest.raises(SystemExit):
        parse_parts(["server", "--port", "1"])
    with pytest.raises(SystemExit):
        parse_parts(["dns", "--kubeconfig", "a", "--and", "dns", "--kubeconfig", "b"])


def test_server_builds_one_node_process(tmp_path: Path) -> None:
    kcs = {p: tmp_path / f"{p}.kubeconfig" for p in ("agent", "proxy", "dns")}
    cfg = NodeConfig(data=tmp_path, node_name="n1", agent_args=["--port=0"], proxy_args=["--netns=x"],
                     dns_args=["--upstream=127.0.0.1:9"])
    argv = node_services_argv(cfg, kcs, with_dns=True, with_agent=True)
    i = argv.index("node-services")
    args = build_parser().parse_args(argv[i:])
    parts = parse_parts(args.parts)
    assert list(parts) == ["agent", "proxy", "dns"]
    assert parts["agent"].node_name == "n1" and parts["agent"].kubeconfig == str(kcs["agent"])
    assert parts["agent"].port == 0  # --agent-arg passed through
    assert parts["proxy"].netns == "x" and parts["proxy"].node_name == "n1"
    assert parts["dns"].listen == "node-gateway:53" and parts["dns"].upstream == ["127.0.0.1:9"]
    assert args.node_kubeconfig == str(kcs["proxy"])  # the identity allowed to GET the Node
    # switched-off parts are left out; nothing at all → no process
    cfg.disabled = {"proxy"}
    only = parse_parts(build_parser().parse_args(node_services_argv(cfg, kcs, with_dns=True)[i:]).parts)
    assert list(only) == ["dns"]
    cfg.disabled = {"proxy", "dns"}
    assert node_services_argv(cfg, kcs, with_dns=False) == []


def test_is_local_address() -> None:
    assert is_local_address("127.0.0.1")
    assert not is_local_address("192.0.2.1")  # TEST-NET-1, never on an interface here


async def test_dns_segment_serves_and_stops(tmp_path: Path) -> None:
    async with running_apiserver() as (_srv, client):
        kc = _kubeconfig(tmp_path / "kc", client.config.server)
        port = _free_port()
        args = build_parser().parse_args(["node-services", "dns", "--kubeconfig", str(kc),
                                          "--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:9"])
        stop = asyncio.Event()
        task = asyncio.create_task(run_node_services(args, stop))
        try:
            await eventually(lambda: dns_answers("127.0.0.1", "kubernetes.default.svc.cluster.local", port=port),
                             timeout=30, what="DNS of node-services answers")
        finally:
            stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_a_failing_part_stops_the_process(tmp_path: Path) -> None:
    async with running_apiserver() as (_srv, client):
        kc = _kubeconfig(tmp_path / "kc", client.config.server)
        bad = "192.0.2.1:53"  # not a local address: `tug dns` exits 1
        args = build_parser().parse_args(["node-services", "dns", "--kubeconfig", str(kc), "--listen", bad])
        stop = asyncio.Event()
        assert await asyncio.wait_for(run_node_services(args, stop), 30) == 1  # without being asked to stop


async def test_dns_waits_for_the_node_gateway(tmp_path: Path) -> None:
    async with running_apiserver() as (_srv, client):
        kc = _kubeconfig(tmp_path / "kc", client.config.server)
        stop = asyncio.Event()
        task = asyncio.create_task(wait_node_gateway(str(kc), "n1", stop))
        await asyncio.sleep(0.3)
        assert not task.done()  # no Node yet
        await client.request("POST", "/api/v1/nodes", body={
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {}})
        await asyncio.sleep(0.3)
        assert not task.done()  # no podCIDR yet
        node = await client.request("GET", "/api/v1/nodes/n1")
        node["spec"]["podCIDR"] = "127.0.0.0/24"  # gateway 127.0.0.1: local, so bindable at once
        await client.request("PUT", "/api/v1/nodes/n1", body=node)
        assert await asyncio.wait_for(task, 30) == "127.0.0.1"
        # stopped while waiting: '' rather than hanging
        stop2 = asyncio.Event()
        t2 = asyncio.create_task(wait_node_gateway(str(kc), "ghost", stop2))
        stop2.set()
        assert await asyncio.wait_for(t2, 10) == ""


def test_parser_has_node_services() -> None:
    p = build_parser()
    ns = p.parse_args(["node-services", "--node-kubeconfig", "k", "proxy", "--node-name", "x"])
    assert isinstance(ns, argparse.Namespace) and ns.parts == ["proxy", "--node-name", "x"]


async def test_dns_listens_where_listen_on_says(tmp_path: Path) -> None:
    """The node-gateway path: `tug dns` starts with no address, binds once it is known."""
    from tugboat.cli.dns import run_dns

    async with running_apiserver() as (_srv, client):
        kc = _kubeconfig(tmp_path / "kc", client.config.server)
        port = _free_port()
        parts = parse_parts(["dns", "--kubeconfig", str(kc), "--listen", str(port), "--upstream", "127.0.0.1:9"])
        known = asyncio.Event()

        async def listen_on() -> str:
            await known.wait()
            return "127.0.0.1"

        stop = asyncio.Event()
        task = asyncio.create_task(run_dns(parts["dns"], stop, listen_on=listen_on))
        try:
            assert not await dns_answers("127.0.0.1", "kubernetes.default.svc.cluster.local", port=port, timeout=0.3)
            known.set()
            await eventually(lambda: dns_answers("127.0.0.1", "kubernetes.default.svc.cluster.local", port=port),
                             timeout=30, what="DNS answers once its address is known")
        finally:
            stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        # stopped before the address is known: a clean exit

        async def stopped() -> str:
            return ""

        assert await asyncio.wait_for(run_dns(parts["dns"], asyncio.Event(), listen_on=stopped), 30) == 0
