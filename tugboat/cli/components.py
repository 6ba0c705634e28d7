"""`tug components`: the control loops of a `tug server`, in their own process.

`tug server` runs the API server in its process and starts this one beside it, so the API
server and the controllers use both cores. Each component connects with its own client
certificate through the kubeconfigs `tug server` writes in the data dir; inside the controller
manager each controller then runs as its own service account (`--use-service-account-credentials`).
The scheduler and the node agent join here as they land.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

log = logging.getLogger("tug.components")

# component name → (kubeconfig file stem, certificate CN, certificate O)
IDENTITIES = {
    "controller-manager": ("controller-manager", "system:kube-controller-manager", None),
    "scheduler": ("scheduler", "system:kube-scheduler", None),
    # only for --use-service-account-credentials=false: the manager's identity plus the group
    # bound to the union of every controller's permissions (system:tugboat:controller-manager)
    "controller-manager-shared": ("controller-manager-shared", "system:kube-controller-manager",
                                  "system:tugboat:controller-manager-shared"),
}


def _bool(v: str) -> bool:
    if v.lower() in ("true", "1", "yes"):
        return True
    if v.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {v!r}")


def add_parser(sub: Any) -> None:
    c = sub.add_parser("components", help="run the controller manager and scheduler (started by tug server)")
    c.add_argument("--data-dir", required=True)
    c.add_argument("--disable", default="", help="comma-separated components to skip")
    c.add_argument("--controllers", default="*", help="controllers to run, upstream syntax: *,-name")
    c.add_argument("--node-monitor-grace-period", type=float, default=50.0)
    c.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod network the node-IPAM controller splits into podCIDRs")
    c.add_argument("--horizontal-pod-autoscaler-sync-period", type=float, default=15.0)
    c.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=float, default=300.0)
    c.add_argument("--kube-api-qps", type=float, default=200.0,
                   help="the controller manager's client rate limit (shared by all controllers)")
    c.add_argument("--kube-api-burst", type=int, default=400)
    c.add_argument("--use-service-account-credentials", type=_bool, nargs="?", const=True, default=True,
                   help="run each controller as its own service account kube-system/<name> (default true); "
                        "false: all controllers share the manager's identity with the union role")
    c.add_argument("--log-level", default="info")


def controller_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {"node-lifecycle-controller": {"node_monitor_grace_period": args.node_monitor_grace_period},
            "node-ipam-controller": {"cluster_cidr": args.cluster_cidr},
            "root-ca-certificate-publisher-controller": {"root_ca_file": str(Path(args.data_dir) / "tls" / "ca.crt")},
            "csrsigning": {"cluster_signing_cert_file": str(Path(args.data_dir) / "tls" / "ca.crt"),
                           "cluster_signing_key_file": str(Path(args.data_dir) / "tls" / "ca.key")},
            "horizontal-pod-autoscaler-controller": {
                "sync_period": args.horizontal_pod_autoscaler_sync_period,
                "downscale_stabilization": args.horizontal_pod_autoscaler_downscale_stabilization}}


async def run_components(args: argparse.Namespace) -> int:
    data = Path(args.data_dir)
    disabled = {d.strip() for d in args.disable.split(",") if d.strip()}
    tasks: list[asyncio.Task[Any]] = []
    if "controller-manager" not in disabled:
        from tugboat.controllers.manager import run_controller_manager

        sa_creds = getattr(args, "use_service_account_credentials", True)
        kubeconfig = data / ("controller-manager.kubeconfig" if sa_creds else "controller-manager-shared.kubeconfig")
        tasks.append(asyncio.create_task(run_controller_manager(
            kubeconfig, controllers=args.controllers.split(","),
            leader_elect=True, options=controller_options(args), qps=args.kube_api_qps,
            burst=args.kube_api_burst, use_service_account_credentials=sa_creds), name="controller-manager"))
    if "scheduler" not in disabled:
        try:
            from tugboat.scheduler.run import run_scheduler
        except ImportError:  # pragma: no cover - during development of the scheduler
            log.warning("scheduler not available")
        else:
            tasks.append(asyncio.create_task(run_scheduler(data / "scheduler.kubeconfig", leader_elect=True),
                                             name="scheduler"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    rc = 0
    for t in done:
        if t is not waiter and t.exception() is not None:
            log.error("component %s failed", t.get_name(), exc_info=t.exception())
            rc = 1
    for t in [waiter, *tasks]:
        t.cancel()
    await asyncio.gather(waiter, *tasks, return_exceptions=True)
    return rc
