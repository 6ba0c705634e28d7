"""Tugboat's scheduler: a kube-scheduler workalike that talks to the API like any client.

    sched = Scheduler(client, informers)       # informers: tugboat.client.InformerFactory
    await sched.start() ... await sched.stop()  # or: await sched.run()
    await run_scheduler(kubeconfig_path)        # standalone, with leader election

Layout: queue (activeQ/backoffQ/unschedulable), cache (NodeInfo sums, assumed pods),
framework (extension points, feasibility search, scoring), plugins/ (one file per upstream
plugin family), eventhandlers (informers → cache/queue), scheduler (the loop, binding,
failure handling), run (leader election).
"""

from tugboat.scheduler.framework import FitError, Framework, Plugin, num_feasible_nodes_to_find
from tugboat.scheduler.run import run_scheduler
from tugboat.scheduler.scheduler import Scheduler

__all__ = ["FitError", "Framework", "Plugin", "Scheduler", "num_feasible_nodes_to_find", "run_scheduler"]
