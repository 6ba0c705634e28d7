"""The `tug` command: `tug server` (the one-command control plane) and `tug kubeconfig`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("tug")


def _default_data_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/tugboat"
    return str(Path.home() / ".local/share/tugboat")


async def run_server(args: argparse.Namespace) -> int:
    from tugboat.apiserver.certs import Pki
    from tugboat.apiserver.context import Config
    from tugboat.apiserver.server import ApiServer, serve, tls_context
    from tugboat.store import open_backend

    t0 = time.monotonic()
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = Pki(data)
    pki.ensure(args.bind_address)
    print(f"tug: certificates in {pki.dir}", flush=True)
    url = args.datastore or f"sqlite://{data / 'state.db'}"
    backend = open_backend(url)
    await backend.start()
    print(f"tug: datastore {url} open", flush=True)
    host = args.bind_address
    advertise = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    config = Config(external_address=f"{advertise}:{args.port}")
    disabled = {d.strip() for d in args.disable.split(",") if d.strip()}
    tokens = {}
    if args.token_auth_file:
        from tugboat.apiserver.auth import load_token_file

        tokens = load_token_file(args.token_auth_file)
    srv = ApiServer(backend, config=config, tokens=tokens)
    from tugboat.apiserver.proxy import EXTRA_KEY, NodeProxy, kubelet_client_context

    srv.ctx.extras[EXTRA_KEY] = NodeProxy(kubelet_client_context(pki))  # pods/log|exec|attach → agents
    srv.default_tolerations.seconds_not_ready = args.default_toleration_seconds
    srv.default_tolerations.seconds_unreachable = args.default_toleration_seconds
    if "controller-manager" not in disabled:
        # The controller manager's garbage collector handles orphan/foreground deletion.
        srv.ctx.config.gc_finalizers = False
    await srv.start()
    try:
        runner = await serve(srv, host, args.port, tls_context(pki.dir))
    except OSError as e:
        print(f"tug: cannot listen on {host}:{args.port}: {e.strerror} (is another server running? "
              f"use --port)", file=sys.stderr, flush=True)
        await srv.stop()
        await backend.close()
        return 1
    server_url = f"https://{advertise}:{args.port}"
    pki.write_kubeconfig(data / "kubeconfig.yaml", server_url)
    components = None
    if not {"controller-manager", "scheduler"} <= disabled:
        from tugboat.cli.supervise import Supervisor

        components = Supervisor("components", _components_argv(args, pki, data, server_url, disabled),
                                log_path=data / "components.log")
        components.start()
    node = _start_node(args, pki, data, server_url, disabled)
    print(f"tug: ready in {time.monotonic() - t0:.2f}s — https://{advertise}:{args.port} "
          f"(kubeconfig: {data / 'kubeconfig.yaml'})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("tug: shutting down", flush=True)
    if node is not None:
        await node.stop()
    if components is not None:
        await components.stop()
    await srv.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 5)
    await backend.close()
    print("tug: stopped", flush=True)
    return 0


def _components_argv(args: argparse.Namespace, pki: Any, data: Path, server_url: str, disabled: set[str]) -> list[str]:
    """Write each component's kubeconfig (its own client certificate) and build the command
    line of the `tug components` process."""
    from tugboat.cli.components import IDENTITIES

    for stem, cn, org in IDENTITIES.values():
        pki.client_cert(stem, cn, org)
        pki.write_kubeconfig(data / f"{stem}.kubeconfig", server_url, stem)
    return [sys.executable, "-m", "tugboat.cli.main", "components", "--data-dir", str(data),
            "--disable", ",".join(sorted(disabled)), "--controllers", args.controllers,
            "--node-monitor-grace-period", str(args.node_monitor_grace_period), "--cluster-cidr", args.cluster_cidr,
            "--log-level", args.log_level]


def _start_node(args: argparse.Namespace, pki: Any, data: Path, server_url: str, disabled: set[str]) -> Any:
    """The local node (agent, proxy, DNS) unless switched off or impossible on this host."""
    from tugboat.cli.node_components import NODE_PARTS, LocalNode, NodeConfig, missing_prerequisite

    if args.no_agent or set(NODE_PARTS) <= disabled:
        return None
    why = missing_prerequisite()
    if why:
        print(f"tug: {why}: starting the control plane only (no node agent, proxy or DNS; "
              f"--no-agent silences this)", flush=True)
        return None
    cfg = NodeConfig(data=data, node_name=args.node_name, cluster_cidr=args.cluster_cidr, bridge=args.bridge,
                     cgroup_root=args.cgroup_root, runtime_state_dir=args.runtime_state_dir,
                     keep_workloads=args.keep_workloads, log_level=args.log_level, agent_args=list(args.agent_arg),
                     proxy_args=list(args.proxy_arg),
                     dns_args=list(args.dns_arg), disabled=disabled)
    node = LocalNode(cfg, pki, server_url, data / "kubeconfig.yaml")
    node.start()
    return node


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    path = Path(args.data_dir) / "kubeconfig.yaml"
    if not path.exists():
        print(f"tug: no kubeconfig at {path}; start `tug server --data-dir {args.data_dir}` first", file=sys.stderr)
        return 1
    sys.stdout.write(path.read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tug", description="Tugboat: a Kubernetes-compatible orchestrator")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server", help="run the API server")
    s.add_argument("--data-dir", default=_default_data_dir())
    s.add_argument("--port", type=int, default=6443)
    s.add_argument("--bind-address", default="127.0.0.1")
    s.add_argument("--datastore", default="", help="sqlite:///path, etcd://host:port, memory://")
    s.add_argument("--log-level", default="info")
    s.add_argument("--token-auth-file", default="", help="static bearer tokens: CSV token,user,uid,\"groups\"")
    s.add_argument("--disable", default="",
                   help="components to leave out: controller-manager,scheduler,agent,proxy,dns")
    s.add_argument("--no-agent", action="store_true", help="control plane only: no node agent, proxy or DNS")
    s.add_argument("--node-name", default="", help="the local node's name (default: the host name)")
    s.add_argument("--cluster-cidr", default="10.244.0.0/16", help="the pod network, split into node podCIDRs")
    s.add_argument("--bridge", default="tug0", help="the local node's pod bridge")
    s.add_argument("--cgroup-root", default="tugboat", help="cgroup under which the local node's pods run")
    s.add_argument("--runtime-state-dir", default="/run/tugboat/runc", help="runc state of the local node (tmpfs)")
    s.add_argument("--keep-workloads", action="store_true", help="leave the node's pods running on shutdown")
    s.add_argument("--agent-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug agent` flag for the local node (repeatable; k3s's --kubelet-arg)")
    s.add_argument("--proxy-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug proxy` flag (repeatable; k3s's --kube-proxy-arg)")
    s.add_argument("--dns-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug dns` flag (repeatable), e.g. --dns-arg=--upstream=192.0.2.53")
    s.add_argument("--controllers", default="*", help="controllers to run (upstream syntax: *,-name)")
    s.add_argument("--node-monitor-grace-period", type=float, default=50.0,
                   help="seconds without a node heartbeat before the node is NotReady (upstream 50)")
    s.add_argument("--default-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds added to pods for not-ready/unreachable nodes (upstream 300)")
    k = sub.add_parser("kubeconfig", help="print the admin kubeconfig")
    k.add_argument("--data-dir", default=_default_data_dir())
    from tugboat.cli.agent import add_agent_parser
    from tugboat.cli.components import add_parser as add_components_parser
    from tugboat.cli.dns import add_dns_parser
    from tugboat.cli.image import add_image_parser
    from tugboat.cli.proxy import add_proxy_parser

    add_image_parser(sub)
    add_agent_parser(sub)
    add_components_parser(sub)
    add_dns_parser(sub)
    add_proxy_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "kubeconfig":
        return cmd_kubeconfig(args)
    if args.cmd == "image":
        from tugboat.cli.image import cmd_image

        return cmd_image(args)
    from tugboat.util.logs import setup_logging

    setup_logging(args.log_level)
    try:
        import uvloop

        # not for a real node agent: uvloop spawns with fork(), ~7 ms of agent CPU per runc/CNI
        # call in a 60 MB process; asyncio's own loop uses vfork (~1 ms)
        if not (args.cmd == "agent" and not args.simulate):
            uvloop.install()
    except ImportError:
        pass
    if args.cmd == "agent":
        from tugboat.cli.agent import run_agent

        return asyncio.run(run_agent(args))
    if args.cmd == "proxy":
        from tugboat.cli.proxy import run_proxy

        return asyncio.run(run_proxy(args))
    if args.cmd == "dns":
        from tugboat.cli.dns import run_dns

        return asyncio.run(run_dns(args))
    if args.cmd == "components":
        from tugboat.cli.components import run_components

        return asyncio.run(run_components(args))
    return asyncio.run(run_server(args))


if __name__ == "__main__":
    sys.exit(main())
