"""Raw CPU and memory readings for the node (procfs) and containers (cgroups), and rates.

The Summary API reports cumulative CPU time (`usageCoreNanoSeconds`) and a rate
(`usageNanoCores`); a rate needs two readings, so `RateTracker` remembers the previous
cumulative value per key and derives nanocores from the difference. Memory follows the
kubelet/cAdvisor definitions: `workingSetBytes` = usage − inactive file pages (what the
eviction manager and `kubectl top` use).

Containers of the runc runtime live in the cgroup the runtime reports (`container_cgroup(id)`,
`/<root>/pod<uid>/<id>`), on the v1 hierarchy (cpuacct, memory controllers) or unified v2.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tugboat.node.runtime import _cgroups

USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(slots=True)
class CpuMem:
    cpu_ns: int | None = None       # cumulative core-nanoseconds
    working_set: int | None = None  # bytes
    usage: int | None = None        # bytes (incl. page cache)
    rss: int | None = None
    available: int | None = None    # node only


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _kv(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            try:
                out[parts[0].rstrip(":")] = int(parts[1])
            except ValueError:
                pass
    return out


def node_usage(proc: str = "/proc") -> CpuMem:
    out = CpuMem()
    stat = _read(os.path.join(proc, "stat")) or ""
    first = stat.splitlines()[0].split() if stat else []
    if first and first[0] == "cpu":
        vals = [int(v) for v in first[1:]]
        busy = sum(vals[:8]) - vals[3] - (vals[4] if len(vals) > 4 else 0)  # minus idle and iowait
        out.cpu_ns = busy * 1_000_000_000 // USER_HZ
    mem = _kv(_read(os.path.join(proc, "meminfo")))
    if "MemTotal" in mem:
        total, free = mem["MemTotal"] * 1024, mem.get("MemFree", 0) * 1024
        avail = mem.get("MemAvailable", mem.get("MemFree", 0)) * 1024
        out.usage, out.available = total - free, avail
        out.working_set = total - avail
        out.rss = (mem.get("AnonPages", 0)) * 1024
    return out


def cgroup_usage(path: str, mount: str = _cgroups.CGROUP_MOUNT) -> CpuMem:
    """CPU and memory of cgroup `path` (absolute, e.g. /tugboat/pod<uid>/<id>)."""
    out = CpuMem()
    if _cgroups.is_v2(mount):
        d = _cgroups.controller_dir(path, "", mount)
        cpu = _kv(_read(os.path.join(d, "cpu.stat")))
        if "usage_usec" in cpu:
            out.cpu_ns = cpu["usage_usec"] * 1000
        cur = _read(os.path.join(d, "memory.current"))
        stat = _kv(_read(os.path.join(d, "memory.stat")))
        inactive = stat.get("inactive_file", 0)
        out.rss = stat.get("anon")
    else:
        acct = _read(os.path.join(_cgroups.controller_dir(path, "cpuacct", mount), "cpuacct.usage"))
        if acct and acct.strip().isdigit():
            out.cpu_ns = int(acct)
        md = _cgroups.controller_dir(path, "memory", mount)
        cur = _read(os.path.join(md, "memory.usage_in_bytes"))
        stat = _kv(_read(os.path.join(md, "memory.stat")))
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
        out.rss = stat.get("total_rss", stat.get("rss"))
    if cur and cur.strip().isdigit():
        out.usage = int(cur)
        out.working_set = max(0, out.usage - inactive)
    return out


class RateTracker:
    """Nanocores from successive cumulative CPU readings, per key."""

    def __init__(self) -> None:
        self._prev: dict[str, tuple[float, int]] = {}

    def rate(self, key: str, cpu_ns: int | None, now: float | None = None) -> int | None:
        if cpu_ns is None:
            return None
        now = time.monotonic() if now is None else now
        prev = self._prev.get(key)
        self._prev[key] = (now, cpu_ns)
        if prev is None or now <= prev[0] or cpu_ns < prev[1]:
            return None
        return int((cpu_ns - prev[1]) / (now - prev[0]))

    def has(self, key: str) -> bool:
        return key in self._prev

    def forget_except(self, keys: set[str]) -> None:
        for k in list(self._prev):
            if k not in keys:
                del self._prev[k]
