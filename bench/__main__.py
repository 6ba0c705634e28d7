"""`make bench`: run every benchmark and print one table.

Each benchmark module exposes `run() -> list[Row]`; a Row is (name, value, unit, limit,
note), where `limit` is the reference measured in the same run (raw SQLite inserts, etcd's
own rate …) or the target, so noisy machines still give comparable figures.
"""

from __future__ import annotations

import asyncio
import importlib
import platform
import sys
import time

MODULES = ["bench.store_bench", "bench.api_bench", "bench.pod_start_bench", "bench.scheduler_bench", "bench.dns_bench", "bench.proxy_bench", "bench.pod_startup_bench", "bench.cluster_bench", "bench.server_start", "bench.net_throughput", "bench.dashboard", "bench.promise_bench"]


def main(argv: list[str]) -> int:
    wanted = [m for m in MODULES if not argv or any(a in m for a in argv)]
    rows: list[tuple[str, str, str, str, str]] = []
    for name in wanted:
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        t0 = time.monotonic()
        result = mod.run()
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        for row in result:
            if len(row) == 2:  # (name, ops/s)
                row = (row[0], f"{row[1]:.0f}", "ops/s", "", "")
            rows.append(tuple(str(x) for x in row))  # type: ignore[arg-type]
        print(f"# {name} took {time.monotonic() - t0:.1f}s", file=sys.stderr)
    header = ("benchmark", "value", "unit", "reference (same run) / target", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(f"machine: {platform.node()} {platform.machine()} cpus={__import__('os').cpu_count()} "
          f"python={platform.python_version()}")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
