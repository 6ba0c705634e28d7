"""`tug scheduler`: a standalone scheduler process (or task) with leader election.

Informers start before the election so a standby has a warm cache; only the holder of the
Lease kube-system/kube-scheduler schedules. Losing the lease stops scheduling and returns
(the caller exits or restarts, as upstream's scheduler exits). The client's rate limit is
raised well above the 50 qps default: every bound pod is one POST, and a scheduler at
hundreds of pods/s must not be throttled by its own client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable

from tugboat.client import Client, InformerFactory, LeaderElectionConfig, LeaderElector, load_kubeconfig
from tugboat.scheduler.scheduler import Scheduler
from tugboat.util import gctune

log = logging.getLogger(__name__)
LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"


async def run_scheduler(kubeconfig_path: str | os.PathLike[str], *, leader_elect: bool = True,
                        scheduler_names: Iterable[str] = ("default-scheduler",), qps: float = 0.0,
                        burst: int = 1000, percentage_of_nodes_to_score: int | None = None) -> None:
    """Run until cancelled (or, with leader election, until the lease is lost). qps=0: unlimited."""
    config = load_kubeconfig(str(kubeconfig_path))
    client = Client(config, component="scheduler", qps=qps, burst=burst)
    informers = InformerFactory(client)
    gctune.tune()  # informer caches are a large long-lived heap (also the controllers' in `tug server`)
    sched = Scheduler(client, informers, scheduler_name=tuple(scheduler_names),
                      percentage_of_nodes_to_score=percentage_of_nodes_to_score, freeze_heap_after_sync=True)
    sched.register()
    informers.start()
    try:
        if not leader_elect:
            await sched.run()
            return
        identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        elector = LeaderElector(client, LeaderElectionConfig(
            name=LEASE_NAME, namespace=LEASE_NAMESPACE, identity=identity,
            lease_duration=15.0, renew_deadline=10.0, retry_period=2.0,
            on_started_leading=sched.run,
            on_new_leader=lambda who: log.info("scheduler leader is now %s", who)))
        await elector.run()
    finally:
        await sched.stop()
        await informers.stop()
        await client.close()


def main(kubeconfig_path: str) -> None:  # pragma: no cover - convenience for `python -m`
    asyncio.run(run_scheduler(kubeconfig_path))
