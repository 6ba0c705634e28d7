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
    from tugboat.cli.progress import Progress, preflight
    from tugboat.store import open_backend

    t0 = time.monotonic()
    progress = Progress(t0=t0)
    disabled = {d.strip() for d in args.disable.split(",") if d.strip()}
    fatal, warnings = preflight(args.bind_address, args.port,
                                want_node=not args.no_agent and not {"agent", "proxy", "dns"} <= disabled)
    if fatal:
        print(f"tug: {fatal}", file=sys.stderr, flush=True)
        return 1
    for w in warnings:
        progress.say(w)
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = args.datastore or f"sqlite://{data / 'state.db'}"
    backend = open_backend(url)
    if args.encryption_provider_config:  # encryption at rest (apiserver/encryption.py)
        from tugboat.apiserver.encryption import EncryptingBackend, EncryptionConfig

        backend = EncryptingBackend(backend, EncryptionConfig.load(args.encryption_provider_config))
    await backend.start()
    print(f"tug: datastore {url} open", flush=True)
    from tugboat.cli import ha_bootstrap

    try:  # HA: the CA and keys of the cluster from the datastore, when the token has some there
        token_arg = ha_bootstrap.parse_token_arg(args.token) if args.token else None
        if token_arg is not None and await ha_bootstrap.fetch(backend, data, token_arg):
            print("tug: joined the cluster in the datastore (CA and keys fetched with the token)", flush=True)
    except ha_bootstrap.BootstrapRefused as e:
        print(f"tug: {e}", file=sys.stderr, flush=True)
        await backend.close()
        return 1
    pki = Pki(data)
    pki.ensure(args.bind_address)
    print(f"tug: certificates in {pki.dir}", flush=True)
    host = args.bind_address
    advertise = args.advertise_address or ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
    config = Config(external_address=f"{advertise}:{args.port}",
                    cors_allowed_origins=tuple(o for arg in args.cors_allowed_origins for o in arg.split(",") if o))
    tokens = {}
    if args.token_auth_file:
        from tugboat.apiserver.auth import load_token_file

        tokens = load_token_file(args.token_auth_file)
    srv = ApiServer(backend, config=config, tokens=tokens, authorization_mode=args.authorization_mode)
    _security(srv, args, pki)
    try:  # the first server of a cluster stores its CA and keys for the next ones (k3s's bootstrap data)
        await ha_bootstrap.publish(backend, data, token_arg)
    except ha_bootstrap.BootstrapRefused as e:
        print(f"tug: {e}", file=sys.stderr, flush=True)
        await backend.close()
        return 1
    from tugboat.apiserver.proxy import EXTRA_KEY, NodeProxy, kubelet_client_context

    srv.ctx.extras[EXTRA_KEY] = NodeProxy(kubelet_client_context(pki))  # pods/log|exec|attach → agents
    from tugboat.apiserver.endpoints_reconciler import LeaseEndpointReconciler

    endpoints = LeaseEndpointReconciler(srv, advertise, args.port)  # default/kubernetes: every live server
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
    await endpoints.start()
    server_url = f"https://{advertise}:{args.port}"
    pki.write_kubeconfig(data / "kubeconfig.yaml", server_url)
    from tugboat.cli.join import setup_server as setup_join

    await setup_join(data, server_url)  # DATA_DIR/token, its bootstrap Secret, kube-public/cluster-info
    progress.say(f"starting API server … ready ({time.monotonic() - t0:.1f} s)")
    from tugboat.cli.manifests import ServerDeploy
    from tugboat.cli.node_components import DNS_VIP
    from tugboat.cli.registry import start_registry

    components = None
    if not {"controller-manager", "scheduler"} <= disabled:
        from tugboat.cli.supervise import Supervisor

        components = Supervisor("components", _components_argv(args, pki, data, server_url, disabled),
                                log_path=data / "components.log")
        components.start()
    # the registry serves the local node (it listens on loopback): none without one
    shared_registry = args.registry_bind not in ("127.0.0.1", "localhost", "::1")
    no_registry = "registry" in disabled or (("agent" in disabled or args.no_agent) and not shared_registry)
    registry, local_reg = (None, None) if no_registry else start_registry(
        data, args.registry_port, progress.say, bind=args.registry_bind,
        advertise=args.advertise_address or (advertise if args.registry_bind in ("0.0.0.0", "::") else ""))
    if local_reg is not None and local_reg.shared:
        _publish_mirror(data, local_reg)
    from tugboat.cli.node_components import missing_prerequisite

    # the DNS add-on only with a local DNS server to point it at (else it is removed, as --disable dns)
    local_dns = not (args.no_agent or {"agent", "dns"} & disabled or missing_prerequisite())
    deploy = ServerDeploy(data, DNS_VIP, disabled if local_dns else disabled | {"dns"})
    deploy.start()
    node = _start_node(args, pki, data, server_url, disabled, deploy,
                       str(local_reg.agent_config) if local_reg else "")
    ready_task = _report_ready(progress, data, node)
    print(f"tug: ready in {time.monotonic() - t0:.2f}s — https://{advertise}:{args.port} "
          f"(kubeconfig: {data / 'kubeconfig.yaml'})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("tug: shutting down", flush=True)
    ready_task.cancel()
    await deploy.stop()
    if node is not None:
        await node.stop()
    if components is not None:
        await components.stop()
    if registry is not None:
        await registry.stop()
    await endpoints.stop()
    await srv.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), 5)
    await backend.close()
    print("tug: stopped", flush=True)
    return 0


def _security(srv: Any, args: argparse.Namespace, pki: Any) -> None:
    """Service-account tokens + ServiceAccount admission, and the audit log when asked for."""
    from tugboat.apiserver import admission_serviceaccount, satoken

    satoken.install(srv, args.service_account_key_file or pki.dir / "sa.key")
    admission_serviceaccount.install(srv.ctx.registry)
    if args.audit_policy_file and args.audit_log_path:
        from tugboat.apiserver.audit import AuditLog, Policy

        srv.audit = AuditLog(Policy.load(args.audit_policy_file), args.audit_log_path, srv._user)


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
            "--horizontal-pod-autoscaler-sync-period", str(args.horizontal_pod_autoscaler_sync_period),
            "--horizontal-pod-autoscaler-downscale-stabilization",
            str(args.horizontal_pod_autoscaler_downscale_stabilization),
            "--log-level", args.log_level]


def _publish_mirror(data: Path, reg: Any) -> None:
    """Background: kube-public/tugboat-registries, so agents that join learn the shared registry."""
    from tugboat.cli.registry import _background, publish_mirror
    from tugboat.client import Client, load_kubeconfig

    async def run() -> None:
        async with Client(load_kubeconfig(str(data / "kubeconfig.yaml")), component="tug-server") as client:
            try:
                await publish_mirror(client, reg)
            except Exception as e:  # noqa: BLE001 - joined agents then pull without the mirror
                print(f"tug: registry mirror not published for joined agents: {e}", flush=True)

    task = asyncio.ensure_future(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


def _report_ready(progress: Any, data: Path, node: Any) -> asyncio.Task[Any]:
    """Background: "node X Ready", "DNS ready", then the kubeconfig and join token paths."""
    from tugboat.cli.progress import report_ready
    from tugboat.client import Client, load_kubeconfig

    async def run() -> None:
        client = Client(load_kubeconfig(str(data / "kubeconfig.yaml")), component="tug-server")
        try:
            dns = None if node is None or {"dns", "agent"} & node.cfg.disabled else (lambda: node.dns_gateway)
            await report_ready(progress, client, node.cfg.node_name if node is not None and "agent" not in
                               node.cfg.disabled else "", dns, kubeconfig=data / "kubeconfig.yaml",
                               token_paths=[data / "server" / "token", data / "token"], stop=asyncio.Event(),
                               logs=data, node_log=node.agent_log if node is not None else "agent.log",
                               dns_log="node-services.log")
        finally:
            await client.close()

    return asyncio.create_task(run(), name="tug-report-ready")


def _start_node(args: argparse.Namespace, pki: Any, data: Path, server_url: str, disabled: set[str],
                deploy: Any = None, registry_config: str = "") -> Any:
    """The local node (agent, proxy, DNS) unless switched off or impossible on this host."""
    from tugboat.cli.node_components import NODE_PARTS, LocalNode, NodeConfig, missing_prerequisite

    if args.no_agent or set(NODE_PARTS) <= disabled:
        return None
    if missing_prerequisite():
        return None  # run_server's preflight said why
    cfg = NodeConfig(data=data, node_name=args.node_name, cluster_cidr=args.cluster_cidr, bridge=args.bridge,
                     cgroup_root=args.cgroup_root, runtime_state_dir=args.runtime_state_dir,
                     keep_workloads=args.keep_workloads, log_level=args.log_level, agent_args=list(args.agent_arg),
                     proxy_args=list(args.proxy_arg),
                     dns_args=list(args.dns_arg), disabled=disabled, registry_config=registry_config,
                     separate_agent=args.separate_agent_process)

    async def on_gateway(gw: str) -> None:
        await deploy.dns_gateway(gw, cfg.node_name)

    node = LocalNode(cfg, pki, server_url, data / "kubeconfig.yaml", on_gateway if deploy is not None else None)
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
    s.add_argument("--advertise-address", default="",
                   help="the address other hosts reach this server at, listed in default/kubernetes "
                        "(default: --bind-address, or 127.0.0.1 when that is 0.0.0.0)")
    s.add_argument("--datastore", default="", help="sqlite:///path, etcd://host:port, memory://")
    s.add_argument("--token", default=os.environ.get("TUG_TOKEN", ""),
                   help="the cluster's join token (K10…, or <id>.<secret> on the first server): servers sharing "
                        "a --datastore fetch the CA and keys with it (env TUG_TOKEN)")
    s.add_argument("--log-level", default="info")
    s.add_argument("--cors-allowed-origins", action="append", default=[], metavar="REGEX[,REGEX]",
                   help="browser origins (regular expressions) allowed to call the API, e.g. a dashboard "
                        "served by another cluster")
    s.add_argument("--token-auth-file", default="", help="static bearer tokens: CSV token,user,uid,\"groups\"")
    s.add_argument("--encryption-provider-config", default="",
                   help="EncryptionConfiguration file (apiserver.config.k8s.io/v1): encrypt e.g. secrets at rest")
    s.add_argument("--audit-policy-file", default="", help="audit Policy (audit.k8s.io/v1); needs --audit-log-path")
    s.add_argument("--audit-log-path", default="", help="audit events as JSON lines ('-' = stdout); off by default")
    s.add_argument("--service-account-key-file", default="",
                   help="RSA key signing service-account tokens (default: DATA_DIR/tls/sa.key, generated)")
    s.add_argument("--authorization-mode", default="Node,RBAC", help="Node,RBAC (default) or AlwaysAllow")
    s.add_argument("--disable", default="",
                   help="components to leave out: controller-manager,scheduler,agent,proxy,dns,registry")
    s.add_argument("--registry-port", type=int, default=5000,
                   help="the local image registry's port on 127.0.0.1 (0: any free port)")
    s.add_argument("--registry-bind", default="127.0.0.1", metavar="ADDR",
                   help="address the local registry listens on; one other hosts reach (or 0.0.0.0) makes it the "
                        "docker.io mirror of agents that join (published in kube-public/tugboat-registries)")
    s.add_argument("--no-agent", action="store_true", help="control plane only: no node agent, proxy or DNS")
    s.add_argument("--node-name", default="", help="the local node's name (default: the host name)")
    s.add_argument("--cluster-cidr", default="10.244.0.0/16", help="the pod network, split into node podCIDRs")
    s.add_argument("--bridge", default="tug0", help="the local node's pod bridge")
    s.add_argument("--cgroup-root", default="tugboat", help="cgroup under which the local node's pods run")
    s.add_argument("--runtime-state-dir", default="/run/tugboat/runc", help="runc state of the local node (tmpfs)")
    s.add_argument("--keep-workloads", action="store_true", help="leave the node's pods running on shutdown")
    s.add_argument("--separate-agent-process", action="store_true",
                   help="run the local node agent in its own process (default: with the proxy and DNS in one "
                        "`tug node-services` process, ≈ 40 MB less memory)")
    s.add_argument("--agent-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug agent` flag for the local node (repeatable; k3s's --kubelet-arg)")
    s.add_argument("--proxy-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug proxy` flag (repeatable; k3s's --kube-proxy-arg)")
    s.add_argument("--dns-arg", action="append", default=[], metavar="--FLAG=VALUE",
                   help="extra `tug dns` flag (repeatable), e.g. --dns-arg=--upstream=192.0.2.53")
    s.add_argument("--controllers", default="*", help="controllers to run (upstream syntax: *,-name)")
    s.add_argument("--node-monitor-grace-period", type=float, default=50.0,
                   help="seconds without a node heartbeat before the node is NotReady (upstream 50)")
    s.add_argument("--horizontal-pod-autoscaler-sync-period", type=float, default=15.0,
                   help="seconds between HPA evaluations (upstream: 15s)")
    s.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=float, default=300.0,
                   help="seconds of recommendations an HPA without behavior looks back on before scaling in")
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
    from tugboat.cli.node_services import add_parser as add_node_services_parser

    add_node_services_parser(sub)
    from tugboat.cli.join import add_token_parser

    add_token_parser(sub, _default_data_dir())
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "kubeconfig":
        return cmd_kubeconfig(args)
    if args.cmd == "token":
        from tugboat.cli.join import cmd_token

        return asyncio.run(cmd_token(args))
    if args.cmd == "image":
        from tugboat.cli.image import cmd_image

        return cmd_image(args)
    from tugboat.util.logs import setup_logging

    setup_logging(args.log_level)
    try:
        import uvloop

        # not for a real node agent: uvloop spawns with fork(), ~7 ms of agent CPU per runc/CNI
        # call in a 60 MB process; asyncio's own loop uses vfork (~1 ms)
        if not (args.cmd == "agent" and not args.simulate) and args.cmd != "node-services":
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
    if args.cmd == "node-services":
        from tugboat.cli.node_services import run_node_services

        return asyncio.run(run_node_services(args))
    if args.cmd == "components":
        from tugboat.cli.components import run_components

        return asyncio.run(run_components(args))
    return asyncio.run(run_server(args))


if __name__ == "__main__":
    sys.exit(main())
