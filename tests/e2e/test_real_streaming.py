"""Streaming on a real node: `kubectl logs` (-f, --tail, --timestamps, --previous), `exec` (exit
codes, piped stdin, a real tty), `port-forward` to a busybox httpd, `cp` both ways and `kubectl top`
— the real kubectl against `tug server`, which proxies to the HTTPS server of a `tug agent`
running the pods under runc (tests/e2e/realnode.py).

These are the paths users hit first when a pod misbehaves; the simulated-node e2e tests cover the
wire protocols, these prove the node side (CRI log files, `runc exec`, the pod's network namespace,
cgroup statistics) behind them. Skipped when not root or runc/CNI are missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import tempfile
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import KUBECTL, free_port
from tests.e2e.realnode import Pod, RealNode, real_node, skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok"),
              pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def node() -> Iterator[RealNode]:
    # the agent's HTTPS server (what the API server proxies to) on loopback and a free port
    with real_node(agent_args=["--address", "127.0.0.1", "--port", "0", "--node-ip", "127.0.0.1"],
                   own_netns_only=True) as n:
        yield n


@pytest.fixture(scope="module")
def ns(node: RealNode) -> str:
    return node.new_namespace()


# ---- helpers ----

def make_pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "busybox", "command": ["sh", "-c", script],
                 **spec.pop("container", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, **spec, "containers": [container]}}


def main_status(p: Pod) -> dict[str, Any]:
    for c in (p.get("status") or {}).get("containerStatuses") or []:
        if c["name"] == "main":
            return dict(c)
    return {}


def running(p: Pod) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and "running" in main_status(p).get("state", {})


def start(node: RealNode, ns: str, name: str, script: str, **spec: Any) -> Pod:
    node.create(ns, make_pod(name, script, **spec))
    return node.wait_pod(ns, name, running, what="Running")


def kubectl_env(node: RealNode) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(node.server.home),
            "KUBECONFIG": str(node.server.kubeconfig)}


def read_line(proc: subprocess.Popen[str], timeout: float = 20) -> str:
    assert proc.stdout is not None
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    assert r, f"no output from kubectl in {timeout}s"
    return proc.stdout.readline()


def wait_logs(node: RealNode, ns: str, name: str, want: str, *args: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = node.kubectl("-n", ns, "logs", name, *args, check=False).stdout
        if want in out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"{want!r} not in `kubectl logs {name} {' '.join(args)}`: {out!r}")


# ---- logs ----

def test_logs_tail_timestamps_and_previous_after_a_restart(node: RealNode, ns: str) -> None:
    # first run prints "run 1" and fails; the immediate restart prints "run 2" + three lines and stays
    script = ('n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo "run $n"; '
              '[ $n -ge 2 ] || exit 1; echo one; echo two; echo three; exec sleep 1000')
    node.create(ns, make_pod("restarts", script, volumes=[{"name": "d", "emptyDir": {}}],
                             container={"volumeMounts": [{"name": "d", "mountPath": "/d"}]}))
    node.wait_pod(ns, "restarts", lambda p: running(p) and main_status(p).get("restartCount") == 1,
                  what="Running after one restart")
    assert wait_logs(node, ns, "restarts", "three") == "run 2\none\ntwo\nthree\n"
    assert node.kubectl("-n", ns, "logs", "restarts", "--tail=2").stdout == "two\nthree\n"
    assert node.kubectl("-n", ns, "logs", "restarts", "--limit-bytes=8").stdout == "run 2\non"
    assert node.kubectl("-n", ns, "logs", "restarts", "--since=1h").stdout == "run 2\none\ntwo\nthree\n"
    assert node.kubectl("-n", ns, "logs", "restarts", "--previous").stdout == "run 1\n"
    assert node.kubectl("-n", ns, "logs", "pod/restarts", "-c", "main", "-p").stdout == "run 1\n"
    stamped = node.kubectl("-n", ns, "logs", "restarts", "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["run 2", "one", "two", "three"]
    now = time.time()
    for line in stamped:  # RFC 3339 with nanoseconds, as the CRI log file records it
        stamp = line.split(" ", 1)[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
        assert now - 120 < datetime.fromisoformat(stamp[:26] + "+00:00").timestamp() <= now + 1
    missing = node.kubectl("-n", ns, "logs", "restarts", "-c", "nope", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_logs_follow_streams_lines_as_written_and_exits_when_the_container_ends(node: RealNode, ns: str) -> None:
    start(node, ns, "follow", "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second; "
          "while [ ! -e /tmp/end ]; do sleep 0.1; done; echo last", restartPolicy="Never")
    proc = subprocess.Popen([KUBECTL, "-n", ns, "logs", "-f", "follow"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=kubectl_env(node))
    try:
        assert read_line(proc) == "first\n"
        assert proc.poll() is None
        node.kubectl("-n", ns, "exec", "follow", "--", "touch", "/tmp/go")
        assert read_line(proc) == "second\n"   # written after `logs -f` started: it was streamed
        assert proc.poll() is None
        node.kubectl("-n", ns, "exec", "follow", "--", "touch", "/tmp/end")
        assert read_line(proc) == "last\n"
        assert proc.wait(20) == 0, proc.stderr.read() if proc.stderr else ""
        assert proc.stdout is not None and proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    node.wait_pod(ns, "follow", lambda p: p["status"].get("phase") == "Succeeded", what="Succeeded")
    # a finished container's log stays readable, and -f on it returns at once
    assert node.kubectl("-n", ns, "logs", "follow").stdout == "first\nsecond\nlast\n"
    assert node.kubectl("-n", ns, "logs", "-f", "follow", timeout=15).stdout == "first\nsecond\nlast\n"


# ---- exec ----

@pytest.fixture(scope="module")
def shell(node: RealNode, ns: str) -> str:
    start(node, ns, "shell", "exec sleep 1000")
    return "shell"


def test_exec_output_and_exit_code(node: RealNode, ns: str, shell: str) -> None:
    p = node.kubectl("-n", ns, "exec", shell, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "hi\n"
    assert "oops" in p.stderr and "command terminated with exit code 3" in p.stderr
    ok = node.kubectl("-n", ns, "exec", shell, "--", "cat", "/etc/hostname")
    assert ok.stdout == "shell\n" and ok.returncode == 0
    missing = node.kubectl("-n", ns, "exec", shell, "--", "/no/such/binary", check=False)
    assert missing.returncode != 0 and missing.stdout == ""


def test_exec_with_piped_stdin(node: RealNode, ns: str, shell: str) -> None:
    data = "".join(f"line {i}\n" for i in range(2000))  # larger than one frame
    p = node.kubectl("-n", ns, "exec", "-i", shell, "--", "cat", input=data)
    assert p.stdout == data
    p = node.kubectl("-n", ns, "exec", "-i", shell, "--", "sh", "-c", "wc -l; exit 4", input=data, check=False)
    assert p.stdout.strip() == "2000" and p.returncode == 4


def in_pty(node: RealNode, args: list[str], typed: bytes = b"", rows: int = 37, cols: int = 101) -> tuple[int, str]:
    """Run kubectl on a pseudo-terminal of rows x cols (as a user's terminal); `typed` is
    written to it as keystrokes. Returns kubectl's exit status and everything it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([KUBECTL, *args], stdin=slave, stdout=slave, stderr=slave, env=kubectl_env(node),
                            start_new_session=True)
    os.close(slave)
    out = b""
    try:
        if typed:
            os.write(master, typed)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every holder of the slave side is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    return rc, out.decode(errors="replace")


def test_exec_it_runs_under_a_pty_with_the_terminal_size(node: RealNode, ns: str, shell: str) -> None:
    # the command asks at once: the container's terminal has kubectl's size from the start
    rc, text = in_pty(node, ["-n", ns, "exec", "-it", shell, "--", "sh", "-c", "tty; stty size; exit 5"])
    assert re.search(r"^/dev/pts/\d+\r?$", text, re.M), text
    assert re.search(r"^37 101\r?$", text, re.M), text
    assert rc == 5, text


def test_exec_it_interactive_shell_reads_keystrokes(node: RealNode, ns: str, shell: str) -> None:
    rc, text = in_pty(node, ["-n", ns, "exec", "-it", shell, "--", "sh"],
                      typed=b"echo answer=$((6*7)); stty size; exit 7\r", rows=24, cols=132)
    assert re.search(r"^answer=42\r?$", text, re.M), text
    assert re.search(r"^24 132\r?$", text, re.M), text
    assert rc == 7, text


# ---- attach (the container's own stdin, kept by its shim) ----

def test_run_i_rm_feeds_piped_input_to_the_container_and_removes_the_pod(node: RealNode, ns: str) -> None:
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": node.node_name, "terminationGracePeriodSeconds": 1}})
    p = node.kubectl("-n", ns, "run", "-i", "--rm", "--restart=Never", "--image=busybox", f"--overrides={overrides}",
                     "piped", "--", "sh", "-c", "cat; echo done", input="hello\nworld\n", timeout=90)
    # stdinOnce: cat saw EOF; all of it came over the attach (kubectl falls back to the log, printing it twice)
    assert p.stdout == 'hello\nworld\ndone\npod "piped" deleted\n', (p.stdout, p.stderr)
    assert "falling back" not in p.stderr, p.stderr
    node.wait_gone(ns, "piped")


def test_attach_i_to_a_running_cat_reaches_its_stdin_again_and_again(node: RealNode, ns: str) -> None:
    start(node, ns, "cat", "exec cat", container={"stdin": True})
    for word in ("ping", "pong"):
        proc = subprocess.Popen([KUBECTL, "-n", ns, "attach", "-i", "cat"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubectl_env(node))
        try:
            assert proc.stdin is not None
            proc.stdin.write(word + "\n")
            proc.stdin.flush()
            assert read_line(proc) == word + "\n"  # cat echoed it: through the shim and back out of the log
        finally:
            proc.kill()
            proc.wait(5)
    # not stdinOnce: the sessions ending left the container's stdin open
    assert running(node.wait_pod(ns, "cat", running, what="still Running"))
    assert wait_logs(node, ns, "cat", "pong") == "ping\npong\n"


# ---- port-forward ----

@pytest.fixture(scope="module")
def web(node: RealNode, ns: str) -> str:
    start(node, ns, "web", "seq 1 200000 > /var/www/big.txt; exec httpd -f -p 8080 -h /var/www")
    return "web"


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_port_forward_reaches_busybox_httpd(node: RealNode, ns: str, web: str, transport: str) -> None:
    env = {**kubectl_env(node), **({"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"} if transport == "spdy" else {})}
    local = free_port()
    proc = subprocess.Popen([KUBECTL, "-n", ns, "port-forward", f"pod/{web}", f"{local}:8080", "--address", "127.0.0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = read_line(proc)
        assert f"Forwarding from 127.0.0.1:{local} -> 8080" in line, line
        url = f"http://127.0.0.1:{local}"
        with urllib.request.urlopen(f"{url}/index.html", timeout=10) as r:
            assert r.status == 200 and r.read() == b"hello from busybox httpd\n"
        with urllib.request.urlopen(f"{url}/big.txt", timeout=20) as r:  # ~1.3 MB: flow control both hops
            assert r.read() == "".join(f"{i}\n" for i in range(1, 200001)).encode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/missing", timeout=10)
        assert err.value.code == 404
        assert proc.poll() is None  # one session, many connections
    finally:
        proc.terminate()
        proc.wait(10)


# ---- cp ----

def test_cp_both_ways(node: RealNode, ns: str, shell: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tug-cp-") as tmp:
        src = Path(tmp) / "up.txt"
        payload = "".join(f"row {i}\n" for i in range(5000))
        src.write_text(payload)
        node.kubectl("-n", ns, "cp", str(src), f"{shell}:/tmp/up.txt")
        assert node.kubectl("-n", ns, "exec", shell, "--", "cat", "/tmp/up.txt").stdout == payload
        node.kubectl("-n", ns, "exec", shell, "--", "sh", "-c", "echo made in the pod > /tmp/down.txt")
        dst = Path(tmp) / "down.txt"
        node.kubectl("-n", ns, "cp", f"{shell}:/tmp/down.txt", str(dst))
        assert dst.read_text() == "made in the pod\n"


# ---- top ----

def _cores(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _mib(value: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(value[:-2]) * units[value[-2:]] if value[-2:] in units else float(value) / 2**20


def test_top_pod_and_node_show_cgroup_usage(node: RealNode, ns: str) -> None:
    # a CPU burner capped at 50m by its cgroup quota (measurable, yet light on a shared host) that
    # holds 8 MB in a shell variable (anonymous memory: part of the working set)
    start(node, ns, "burner", "x=$(head -c 8000000 /dev/zero | tr '\\0' a); echo filled; while :; do :; done",
          container={"resources": {"limits": {"cpu": "50m", "memory": "64Mi"}}})
    wait_logs(node, ns, "burner", "filled")  # (the API server keeps a node's figures for 15 s)
    deadline = time.monotonic() + 40
    row: list[str] = []
    while time.monotonic() < deadline:
        p = node.kubectl("-n", ns, "top", "pod", "burner", "--containers", "--no-headers", check=False)
        row = p.stdout.split()
        if p.returncode == 0 and len(row) == 4 and _cores(row[2]) > 0:
            break
        time.sleep(1)
    assert row[:2] == ["burner", "main"], row
    assert 0.005 <= _cores(row[2]) <= 0.2, row  # ~50m of a core (sampled briefly): the quota holds
    assert 6 <= _mib(row[3]) < 64, row  # ~8 MB held (the kernel may have reclaimed a little)
    nrow = node.kubectl("top", "node", node.node_name, "--no-headers").stdout.split()
    assert nrow[0] == node.node_name and _cores(nrow[1]) > 0 and _mib(nrow[3]) > 0, nrow
