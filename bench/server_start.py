"""`tug server` start-to-ready and idle memory (issue 6 targets: ready ≤ 5 s, idle ≤ 250 MB).

Start-to-ready: from spawning `tug server` (fresh data dir: CA and certificates generated,
SQLite created) until the server itself has seen the local node Ready AND the cluster DNS
answer `kubernetes.default.svc.cluster.local` (its "DNS ready" line, printed after a real
query); the first "ready" row is the API server alone (/readyz through its own line). Idle
memory: RSS summed over the server's whole process tree (API server, components, the node
process — agent + proxy + DNS in one `tug node-services` — and the registry) 30 s after ready,
with the per-process split in the note.

Needs root, runc and the CNI plugins for the node rows (else the control plane alone is
measured). Everything is private to the run: data dir, node name, bridge, cgroup root, runc
state dir, a 10.2xx cluster CIDR, a free registry port; the proxy programs a network namespace
made for the run (not the host), which is deleted afterwards with everything else.
Run: .venv/bin/python -m bench.server_start [--idle SECONDS] [--server-arg=--FLAG …]
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
Row = tuple[str, str, str, str, str]


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (libpython, libssl, …) split among their users,
    so the sum over processes is the memory the tree really holds."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in argv if w]
    if "tugboat.cli.main" in words:
        return "tug " + words[words.index("tugboat.cli.main") + 1]
    return os.path.basename(words[0]) if words else "?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(idle: float = 30.0, timeout: float = 60.0, extra: list[str] | None = None) -> dict[str, object]:
    tag = secrets.token_hex(3)
    base = Path(tempfile.mkdtemp(prefix="tug-bench-start-"))
    netns = f"tugbench{tag}"
    node = os.geteuid() == 0 and os.path.exists("/usr/sbin/runc")
    argv = [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(base / "data"),
            "--port", str(_free_port()), "--bind-address", "127.0.0.1", "--registry-port", "0"]
    cfg = {"bridge": f"tgb{tag}", "cgroup": f"tugboat-bench-{tag}", "state": f"/run/tugboat-bench-{tag}",
           "cidr": f"10.{200 + secrets.randbelow(50)}.0.0/16"}
    if node:
        subprocess.run(["ip", "netns", "add", netns], check=True)
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        argv += ["--node-name", f"bench-{tag}", "--cluster-cidr", cfg["cidr"], "--bridge", cfg["bridge"],
                 "--cgroup-root", cfg["cgroup"], "--runtime-state-dir", cfg["state"],
                 "--agent-arg=--address=127.0.0.1", "--agent-arg=--port=0", "--agent-arg=--node-ip=127.0.0.1",
                 "--dns-arg=--upstream=127.0.0.1:9", f"--proxy-arg=--netns={netns}"]
    else:
        argv.append("--no-agent")
    argv += extra or []
    log = base / "server.log"
    result: dict[str, object] = {"node": node}
    proc = None
    try:
        with open(log, "wb") as f:
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        seen: dict[str, float] = {}
        want = {"api": "starting API server … ready", "ready": "cluster ready in"}
        while time.monotonic() - t0 < timeout and len(seen) < len(want):
            text = log.read_text(errors="replace")
            for key, needle in want.items():
                if key not in seen and needle in text:
                    seen[key] = time.monotonic() - t0
            if proc.poll() is not None:
                raise RuntimeError(f"tug server exited:\n{text[-3000:]}")
            time.sleep(0.02)
        if len(seen) < len(want):
            raise RuntimeError(f"not ready in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")
        m = re.search(r"cluster ready in ([\d.]+) s", log.read_text())
        result.update(api_s=seen["api"], ready_s=seen["ready"], ready_inside_s=float(m.group(1)) if m else -1)
        time.sleep(idle)
        per: dict[str, int] = {}
        pss = 0
        for pid in [proc.pid, *_descendants(proc.pid)]:
            name = "tug server" if pid == proc.pid else _name(pid)
            per[name] = per.get(name, 0) + _rss_kb(pid)
            pss += _pss_kb(pid)
        result.update(rss_mb=sum(per.values()) / 1024, pss_mb=pss / 1024, per={k: v / 1024 for k, v in per.items()})
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if node:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
            shutil.rmtree(cfg["state"], ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    return result


def run(idle: float = 30.0, extra: list[str] | None = None) -> list[Row]:
    r = measure(idle, extra=extra)
    what = "one-node cluster" if r["node"] else "control plane only (not root / no runc)"
    per = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["per"].items(), key=lambda kv: -kv[1]))  # type: ignore[attr-defined]
    return [
        ("`tug server` spawn → API server ready", f"{r['api_s']:.2f}", "s", "", "fresh data dir, CA generated"),
        (f"`tug server` spawn → node Ready + DNS answering ({what})", f"{r['ready_s']:.2f}", "s",
         "target ≤ 5 s (k3s ≈ 50 s)", f"server's own count from its start: {r['ready_inside_s']:.1f} s"),
        (f"idle memory (PSS) of the whole process tree, {idle:.0f} s after ready", f"{r['pss_mb']:.0f}", "MB",
         "target ≤ 250 MB (k3s ≈ 500 MB)", "shared pages counted once"),
        (f"idle RSS summed over the process tree, {idle:.0f} s after ready", f"{r['rss_mb']:.0f}", "MB",
         "target ≤ 250 MB", f"shared libraries counted in every process; RSS MB: {per}"),
    ]


if __name__ == "__main__":
    idle = float(sys.argv[sys.argv.index("--idle") + 1]) if "--idle" in sys.argv else 30.0
    # --server-arg=--separate-agent-process etc.: extra `tug server` flags (A/B comparisons)
    extra = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--server-arg=")]
    for row in run(idle, extra):
        print(" | ".join(row))
