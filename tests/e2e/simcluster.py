"""A whole cluster in processes: a real `tug server` plus `tug agent --simulate` node processes.

The integration tests of issue 3 need what a user has: the API server, the supervised
components process (controllers + scheduler), node agents heart-beating through Leases, and
the real kubectl. Simulated nodes run the real agent code path with no containers, so a
three-node cluster costs three Python processes and starts in a few seconds.

Each agent process is a "group" of nodes (`<prefix>0 … <prefix>N-1`) that can be stopped on
its own, which is how a test takes a node away (by pid, SIGTERM). Everything is stopped by pid
and the temp dir removed in `stop()`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.conftest import TugServer, start_server, stop_server

T = TypeVar("T")
# upstream's fast-failover knobs, shortened: NotReady 5 s after the last heartbeat, pods evicted
# 5 s later; the agents renew their Lease every second so 5 s is three missed renewals
FAST_FAILOVER = ["--node-monitor-grace-period", "5", "--default-toleration-seconds", "5"]
LEASE_SECONDS = "4"


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.25) -> T:
    """Poll `fn` until it returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


@dataclass
class AgentGroup:
    prefix: str
    count: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def nodes(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(self.count)]


@dataclass
class SimCluster:
    server: TugServer
    tmp: Path
    groups: dict[str, AgentGroup] = field(default_factory=dict)

    # ---- kubectl helpers ----
    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, **kw)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def pods(self, ns: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["pods", "-n", ns] + (["-l", selector] if selector else [])
        return list(self.get_json(*args)["items"])

    def node_ready(self, name: str) -> str:
        p = self.kubectl("get", "node", name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                         check=False)
        return p.stdout.strip() if p.returncode == 0 else ""

    # ---- nodes ----
    def start_agent(self, prefix: str, count: int = 1, *, capacity: str = "", labels: str = "",
                    taints: str = "", wait: bool = True, lease_seconds: str = LEASE_SECONDS) -> AgentGroup:
        log = self.tmp / f"agent-{prefix}.log"
        argv = [sys.executable, "-m", "tugboat.cli.main", "agent", "--simulate", str(count),
                "--kubeconfig", str(self.server.kubeconfig), "--node-prefix", prefix,
                "--data-dir", str(self.tmp / f"agent-{prefix}"), "--node-lease-duration-seconds", lease_seconds]
        for flag, val in (("--capacity", capacity), ("--labels", labels), ("--taints", taints)):
            if val:
                argv += [flag, val]
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(self.tmp))
        group = AgentGroup(prefix, count, proc, log)
        self.groups[prefix] = group
        if wait:
            for n in group.nodes:
                wait_for(f"node {n} Ready", lambda n=n: self._alive(group) and self.node_ready(n) == "True",  # type: ignore[misc]
                         timeout=30)
        return group

    def _alive(self, group: AgentGroup) -> bool:
        if group.proc.poll() is not None:
            raise AssertionError(f"agent {group.prefix} exited ({group.proc.returncode}):\n{group.log.read_text()}")
        return True

    def stop_agent(self, prefix: str) -> None:
        group = self.groups.pop(prefix, None)
        if group is None or group.proc.poll() is not None:
            return
        group.proc.send_signal(signal.SIGTERM)
        try:
            group.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            group.proc.kill()
            group.proc.wait()

    # ---- the components process (controllers + scheduler) ----
    def components_pid(self) -> int:
        """The pid of `tug components`, the supervised child of `tug server`."""
        pid = self.server.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for c in children:
            try:
                cmd = Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"components" in cmd:
                return int(c)
        raise AssertionError(f"no components process among the children of tug server {pid}: {children}")

    def stop(self) -> None:
        for prefix in list(self.groups):
            self.stop_agent(prefix)
        stop_server(self.server)
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_cluster(extra: list[str] | None = None) -> SimCluster:
    """A `tug server` with the fast-failover flags (and `extra`); add nodes with start_agent."""
    server = start_server([*FAST_FAILOVER, *(extra or [])])
    tmp = server.data_dir.parent / "sim"
    tmp.mkdir()
    os.chmod(tmp, 0o700)
    return SimCluster(server, tmp)
