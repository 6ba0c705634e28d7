"""Node and container CPU/memory readings (procfs, cgroup v1 and v2 layouts) and the Summary shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tugboat.node.runtime.base import ContainerStatus
from tugboat.node.server import stats
from tugboat.node.server.stats_collect import USER_HZ, RateTracker, cgroup_usage, node_usage


def _w(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_node_usage_from_proc(tmp_path: Path) -> None:
    _w(tmp_path / "stat", "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 1 2 3 4\n")
    _w(tmp_path / "meminfo", "MemTotal: 1000 kB\nMemFree: 300 kB\nMemAvailable: 600 kB\nAnonPages: 200 kB\n")
    u = node_usage(str(tmp_path))
    assert u.cpu_ns == (100 + 5 + 50 + 3 + 2) * 1_000_000_000 // USER_HZ  # idle and iowait excluded
    assert (u.usage, u.available, u.working_set, u.rss) == (700 * 1024, 600 * 1024, 400 * 1024, 200 * 1024)


def test_cgroup_v1_layout(tmp_path: Path) -> None:
    path = "/tugboat/podU/c1"
    _w(tmp_path / "cpuacct" / "tugboat/podU/c1/cpuacct.usage", "123456789\n")
    _w(tmp_path / "memory" / "tugboat/podU/c1/memory.usage_in_bytes", "10000\n")
    _w(tmp_path / "memory" / "tugboat/podU/c1/memory.stat", "cache 9\ntotal_rss 4000\ntotal_inactive_file 2500\n")
    u = cgroup_usage(path, str(tmp_path))
    assert (u.cpu_ns, u.usage, u.working_set, u.rss) == (123456789, 10000, 7500, 4000)


def test_cgroup_v2_layout(tmp_path: Path) -> None:
    _w(tmp_path / "cgroup.controllers", "cpu memory\n")
    _w(tmp_path / "tugboat/podU/c1/cpu.stat", "usage_usec 2500\nuser_usec 2000\n")
    _w(tmp_path / "tugboat/podU/c1/memory.current", "8192\n")
    _w(tmp_path / "tugboat/podU/c1/memory.stat", "anon 4096\ninactive_file 1024\n")
    u = cgroup_usage("/tugboat/podU/c1", str(tmp_path))
    assert (u.cpu_ns, u.usage, u.working_set, u.rss) == (2_500_000, 8192, 7168, 4096)


def test_missing_cgroup_reads_as_unknown(tmp_path: Path) -> None:
    u = cgroup_usage("/nope", str(tmp_path))
    assert u.cpu_ns is None and u.working_set is None


def test_rate_tracker() -> None:
    t = RateTracker()
    assert t.rate("c", 1_000_000_000, now=10.0) is None  # no earlier reading
    assert t.rate("c", 1_500_000_000, now=12.0) == 250_000_000  # 0.5 s CPU in 2 s = 250m
    assert t.rate("c", 100, now=13.0) is None  # counter reset (container restarted)
    t.forget_except(set())
    assert not t.has("c")


class _Runtime:
    async def list_containers(self) -> list[ContainerStatus]:
        lab = {"io.kubernetes.pod.uid": "u1", "io.kubernetes.container.name": "app"}
        return [ContainerStatus("old", "s", "app", 0, "exited", labels=lab, started_at=1.0),
                ContainerStatus("c1", "s", "app", 1, "running", labels=lab, started_at=1.0),
                ContainerStatus("c2", "s", "side", 0, "running", started_at=1.0,
                                labels={**lab, "io.kubernetes.container.name": "side"})]


class _Rec:
    gone = False

    def __init__(self, pod: dict[str, Any]):
        self.pod = pod


class _SimAgent:
    simulated = True
    node_name = "n1"
    allocatable = {"memory": "1Gi"}
    runtime = _Runtime()

    def __init__(self) -> None:
        ann = {"sim.tugboat.dev/cpu-millicores": "100", "sim.tugboat.dev/cpu-millicores.side": "20",
               "sim.tugboat.dev/memory-bytes": str(8 << 20)}
        self.records = {"u1": _Rec({"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "annotations": ann},
                                    "status": {"startTime": "2024-01-01T00:00:00Z"}})}


async def test_simulated_summary_shape() -> None:
    s = await stats.summary(_SimAgent(), RateTracker())
    node = s["node"]
    assert node["nodeName"] == "n1"
    assert node["cpu"]["usageNanoCores"] == (50 + 100 + 20) * 1_000_000
    assert node["memory"]["workingSetBytes"] == (256 << 20) + 2 * (8 << 20)
    assert node["memory"]["availableBytes"] == (1 << 30) - node["memory"]["workingSetBytes"]
    [pod] = s["pods"]
    assert pod["podRef"] == {"name": "p", "namespace": "ns", "uid": "u1"}
    assert [c["name"] for c in pod["containers"]] == ["app", "side"]  # the running attempt only
    app, side = pod["containers"]
    assert app["cpu"]["usageNanoCores"] == 100_000_000 and side["cpu"]["usageNanoCores"] == 20_000_000
    assert app["cpu"]["usageCoreNanoSeconds"] > 0
    assert pod["cpu"]["usageNanoCores"] == 120_000_000
    assert pod["memory"]["workingSetBytes"] == 2 * (8 << 20)
