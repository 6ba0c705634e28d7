"""Pod startup on one real node: creation → Running through the API server and the node agent.

What issue 4 asks for, measured in one run on this host:
- a bare `runc run` of busybox `true` (the floor any runc-based node pays), median of 20;
- 100 pods (one busybox container each, image already on the node, `IfNotPresent`) created
  through the API at 5 pods/s on a real node (`tug server` + `tug agent` with runc and CNI,
  tests/e2e/realnode.py); latency from just before each create request to the watch event
  that shows the pod Running; p50/p99/max (targets p50 ≤ 0.5 s, p99 ≤ 1.5 s; upstream's SLO
  is p99 ≤ 5 s). Pods name their node: the scheduler is not part of this figure.
- the agent at rest with 110 pods: its RSS and CPU (% of one core over 20 s), and the
  memory of the per-container shims (one process per container, like containerd-shim).

Needs root, runc, the CNI plugins, docker-registry and busybox-static; everything it creates
is removed at the end (the real node's teardown checks the host). Takes about 2 minutes.
Run: .venv/bin/python -m bench.pod_startup_bench
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import orjson

Row = tuple[str, str, str, str, str]
PODS = 100
RATE = 5.0  # pods per second
AT_REST = 110
REST_WINDOW = 20.0


def _pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "100000"]}]}}


class RunningWatch:
    """Watches a namespace's pods and records when each was first seen Running."""

    def __init__(self, http: Any, ns: str):
        self.http, self.ns = http, ns
        self.running: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        url = f"/api/v1/namespaces/{self.ns}/pods?watch=1&allowWatchBookmarks=false"
        with self.http.stream("GET", url, timeout=None) as r:
            self.ready.set()
            for line in r.iter_lines():
                if self.stop:
                    return
                if not line:
                    continue
                obj = orjson.loads(line).get("object") or {}
                name = (obj.get("metadata") or {}).get("name", "")
                if (obj.get("status") or {}).get("phase") == "Running" and name not in self.running:
                    self.running[name] = time.monotonic()


def _proc_stats(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) of one process."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (libpython, libc) divided among their users."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))


def _shims_rss(marker: str) -> tuple[int, int, int, str]:
    """(RSS, PSS, count, kind) of the container shims (the C tug-shim or the Python runc_shim.py)."""
    total = pss = count = 0
    kinds = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            kind = "python" if b"runc_shim.py" in cmd else "C" if b"tug-shim" in cmd else ""
            if kind and marker.encode() in cmd:
                total += _proc_stats(int(pid))[0]
                pss += _pss(int(pid))
                count += 1
                kinds.add(kind)
        except (OSError, StopIteration):
            continue
    return total, pss, count, "+".join(sorted(kinds)) or "no"


def _busy_cores() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:8]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, time.monotonic()


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def measure(node: Any) -> list[Row]:
    from bench.pod_start_bench import bare_runc
    from tugboat.node.runtime.runc_testing import busybox_rootfs

    with tempfile.TemporaryDirectory(prefix="tug-startbench-") as tmp:
        bare = statistics.median(bare_runc(tmp, busybox_rootfs(os.path.join(tmp, "rootfs"))))
    ns = node.new_namespace()
    base = f"/api/v1/namespaces/{ns}/pods"
    # pull once, so the measured pods start from a cached image
    node.http.post(base, content=orjson.dumps(_pod("warm", node.node_name))).raise_for_status()
    node.wait_pod(ns, "warm", lambda p: (p.get("status") or {}).get("phase") == "Running", timeout=60)
    node.http.delete(f"{base}/warm").raise_for_status()
    node.wait_gone(ns, "warm")
    watch = RunningWatch(node.http, ns)
    created: dict[str, float] = {}

    def create(names: list[str], rate: float) -> None:
        t_start = time.monotonic()
        for i, name in enumerate(names):
            time.sleep(max(0.0, t_start + i / rate - time.monotonic()))
            t0 = time.monotonic()
            node.http.post(base, content=orjson.dumps(_pod(name, node.node_name))).raise_for_status()
            created[name] = t0

    def wait_running(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(watch.running) < n and time.monotonic() < deadline:
            time.sleep(0.2)

    busy0, t0 = _busy_cores()
    create([f"p{i:03d}" for i in range(PODS)], RATE)
    wait_running(PODS)
    busy1, t1 = _busy_cores()
    load = (busy1 - busy0) / (t1 - t0)
    lat = [watch.running[n] - created[n] for n in created if n in watch.running]
    missing = PODS - len(lat)
    create([f"p{i:03d}" for i in range(PODS, AT_REST)], RATE)  # fill the node up for the at-rest figure
    wait_running(AT_REST)
    watch.stop = True
    time.sleep(5)  # settle: status writes, probes, events
    pid = node.proc.pid
    rss0, cpu0 = _proc_stats(pid)
    time.sleep(REST_WINDOW)
    rss1, cpu1 = _proc_stats(pid)
    shim_rss, shim_pss, shims, kind = _shims_rss(str(node.data_dir))
    cpu_pct = (cpu1 - cpu0) / REST_WINDOW * 100
    ref = f"bare runc run {bare * 1000:.0f} ms"
    note = f"n={len(lat)}" + (f", {missing} never Running" if missing else "")
    note += f"; whole machine busy {load:.2f} of {os.cpu_count()} cores meanwhile"
    return [
        ("bare `runc run` busybox true (median of 20)", f"{bare * 1000:.1f}", "ms", "", "same run, same host"),
        ("pod startup creation→Running (watch) p50", f"{statistics.median(lat):.3f}" if lat else "-", "s",
         f"target ≤ 0.5 s; {ref}", f"{PODS} pods at {RATE:.0f}/s, cached image, " + note),
        ("pod startup creation→Running (watch) p99", f"{_pct(lat, 0.99):.3f}" if lat else "-", "s",
         "target ≤ 1.5 s (upstream SLO ≤ 5 s)", note),
        ("pod startup creation→Running (watch) max", f"{max(lat):.3f}" if lat else "-", "s", "", note),
        (f"agent RSS at rest, {AT_REST} pods", f"{max(rss0, rss1) / 2**20:.0f}", "MiB", "", "tug agent process"),
        (f"agent CPU at rest, {AT_REST} pods", f"{cpu_pct:.1f}", "% of a core", "",
         f"over {REST_WINDOW:.0f} s, sync frequency {node.sync_frequency:.0f} s, PLEG relist 1 s"),
        (f"container shims RSS, {shims} containers", f"{shim_rss / 2**20:.1f}", "MiB", "",
         f"{shim_rss / max(1, shims) / 2**20:.2f} MiB each ({kind} shim per container)"),
        (f"container shims PSS, {shims} containers", f"{shim_pss / 2**20:.1f}", "MiB", "",
         f"{shim_pss / max(1, shims) / 2**20:.2f} MiB each (shared pages split among their users)"),
    ]


def run() -> list[Row]:
    from tests.e2e.realnode import real_node, skip_reason

    reason = skip_reason()
    if reason:
        return [("pod startup (real node)", "-", "s", "", f"skipped: {reason}")]
    # own_netns_only: other real-node runs on the host are not ours to judge (or clean up)
    with real_node(sync_frequency=60.0, own_netns_only=True) as node:
        rows = measure(node)
        for row in rows:  # printed as soon as measured: a failing teardown must not lose them
            print(" | ".join(row), file=sys.stderr)
        return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
