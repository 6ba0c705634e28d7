"""Per-container shim: holds the container's stdio, writes its CRI log, records its exit.

Why a process and not a task in the agent: the agent may restart at any time (upgrade,
crash) and must then *adopt* running containers without restarting them. The container's
stdout/stderr pipes and its exit status belong to whoever holds them, so a small process per
container holds them instead (the containerd-shim idea):

  agent --spawn--> shim --runc create--> container init (reparented to the shim, which is
  a child subreaper), shim reads both pipes into the log file, waits for init, then writes
  `exit.json` (exit code, finish time, OOM-kill flag read from the container's memory
  cgroup *before* `runc delete` removes it) into the container's state directory.

The shim runs as `python -S -E runc_shim.py …` with the bare standard library (fast start,
no import of tugboat), forks once so it is nobody's child, tells the agent on stdout
"ok <init pid> <shim pid>" or "err <message>" and then goes quiet. Log lines are the kubelet's CRI format:
`<RFC3339Nano time> stdout|stderr F|P <content>` (P = partial line split at 16 KiB).
SIGUSR1 makes it reopen the log file (log rotation by the agent).

With `--stdin` the container's stdin is a pipe the shim keeps (with `--tty`: the terminal
master runc hands over on a console socket), served on the unix socket `attach.sock` in the
container's directory so `kubectl attach -i` can write to it. Frames: 1 type byte, 4-byte
big-endian length, payload — `d` stdin data, `r` terminal size (u16 width, u16 height), `c`
stdin EOF. `--stdin-once` (upstream's stdinOnce) closes the container's stdin when the first
attach client closes stdin or leaves. tugshim.c next to this file is the same shim in C
(≈ 10x less memory); the agent runs this one only when that was not built.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MAX_LINE = 16 * 1024  # kubelet/containerd split longer lines into partial (P) records
PR_SET_CHILD_SUBREAPER = 36
TIOCSWINSZ = 0x5414
FRAME_MAX = 65536


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


class LogWriter:
    """Appends CRI log records; one write per record under a lock (two streams share it)."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.reopen = False
        self.fd = self._open()

    def _open(self) -> int:
        if not self.path:
            return os.open(os.devnull, os.O_WRONLY)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)

    def write(self, stream: str, tag: str, content: bytes) -> None:
        record = f"{rfc3339nano(time.time_ns())} {stream} {tag} ".encode() + content + b"\n"
        with self.lock:
            if self.reopen:
                self.reopen = False
                os.close(self.fd)
                self.fd = self._open()
            try:
                os.write(self.fd, record)
            except OSError as e:  # disk full etc.: keep draining the pipe so the container never blocks
                print(f"shim: log write failed: {e}", file=sys.stderr)


def split_records(buf: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Complete records in `buf` (F per line, P per MAX_LINE piece of a longer line) and
    the unfinished rest."""
    out = []
    while True:
        nl = buf.find(b"\n", 0, MAX_LINE + 1)
        if nl >= 0:
            out.append(("F", buf[:nl]))
            buf = buf[nl + 1:]
        elif len(buf) > MAX_LINE:
            out.append(("P", buf[:MAX_LINE]))
            buf = buf[MAX_LINE:]
        else:
            return out, buf


def pump(fd: int, stream: str, log: LogWriter) -> None:
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        records, buf = split_records(buf + chunk)
        for tag, content in records:
            log.write(stream, tag, content)
    if buf:
        log.write(stream, "F", buf)
    os.close(fd)


def runc_error(log_file: str, fallback: str) -> str:
    """The last error runc logged (json lines), else `fallback`."""
    msg = ""
    try:
        with open(log_file) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("level") in ("error", "fatal"):
                    msg = str(rec.get("msg", ""))
    except OSError:
        pass
    return msg or fallback


def write_json(path: str, data: dict[str, object]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def oom_killed(oom_file: str) -> bool:
    try:
        with open(oom_file) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
    except (OSError, ValueError):
        pass
    return False


def reap_until(pid: int) -> int:
    """Reap children (we are a subreaper) until `pid` exits; its exit code, 128+signal if killed."""
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # not our child after all: poll /proc instead
            while os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            return 255
        except InterruptedError:
            continue
        if wpid == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


class Stdin:
    """The container's stdin, fed by attach clients (one write at a time, under a lock)."""

    def __init__(self, fd: int, tty: bool, once: bool):
        self.fd, self.tty, self.once = fd, tty, once
        self.lock = threading.Lock()
        self.done = False

    def write(self, data: bytes) -> None:
        with self.lock:
            if self.done:
                return
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except OSError:  # the container closed its stdin
                pass

    def close(self) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
            try:
                if self.tty:
                    os.write(self.fd, b"\x04")
                else:
                    os.close(self.fd)
            except OSError:
                pass

    def resize(self, payload: bytes) -> None:
        if self.tty and len(payload) == 4:
            width, height = struct.unpack(">HH", payload)
            fcntl_ioctl(self.fd, TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def serve(self, conn: socket.socket) -> None:
        try:
            f = conn.makefile("rb")
            while True:
                head = f.read(5)
                if len(head) < 5:
                    break
                kind, n = head[:1], int.from_bytes(head[1:], "big")
                if n > FRAME_MAX:
                    break
                payload = f.read(n)
                if len(payload) < n:
                    break
                if kind == b"d":
                    self.write(payload)
                elif kind == b"r":
                    self.resize(payload)
                elif kind == b"c" and self.once:
                    self.close()
        except OSError:
            pass
        finally:
            conn.close()
            if self.once:
                self.close()

    def accept_loop(self, server: socket.socket) -> None:
        while True:
            conn, _ = server.accept()
            if self.done:
                conn.close()
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()


def fcntl_ioctl(fd: int, request: int, arg: bytes) -> None:
    import fcntl  # only terminals need it

    fcntl.ioctl(fd, request, arg)


def listen_unix(name: str, backlog: int) -> socket.socket:
    if os.path.lexists(name):
        os.unlink(name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(name)
    os.chmod(name, 0o600)
    sock.listen(backlog)
    return sock


def receive_terminal(console: socket.socket) -> int:
    """The terminal master runc sent over the console socket (-1 if it sent none)."""
    console.setblocking(False)
    try:
        conn, _ = console.accept()
    except OSError:
        return -1
    with conn:
        conn.setblocking(True)
        _, fds, _, _ = socket.recv_fds(conn, 256, 1)
    return fds[0] if fds else -1


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    for name in ("--runc", "--root", "--id", "--bundle", "--dir"):
        p.add_argument(name, required=True)
    p.add_argument("--log", default="")
    p.add_argument("--oom-file", default="")
    for flag in ("--stdin", "--stdin-once", "--tty"):
        p.add_argument(flag, action="store_true")
    a = p.parse_args(argv)
    os.chdir(a.dir)  # sockets are bound by relative name: container dirs are too long for sun_path

    # detach: the agent's child exits at once (nothing for it to reap later); the shim
    # lives on in its own session, reparented to init, and survives agent restarts
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with open("shim.pid", "w") as f:
        f.write(str(os.getpid()))

    log = LogWriter(a.log)

    def on_usr1(_sig: int, _frame: object) -> None:
        log.reopen = True

    signal.signal(signal.SIGUSR1, on_usr1)
    console = listen_unix("console.sock", 1) if a.tty else None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if a.stdin and not a.tty else (-1, -1)
    cmd = [a.runc, "--root", a.root, "--log", "runc.log", "--log-format", "json",
           "create", "--bundle", a.bundle, "--pid-file", "init.pid",
           *(["--console-socket", "console.sock"] if a.tty else []), a.id]
    proc = subprocess.Popen(cmd, stdin=in_r if in_r >= 0 else subprocess.DEVNULL, stdout=out_w, stderr=err_w)
    for fd in (out_w, err_w, in_r):
        if fd >= 0:
            os.close(fd)
    rc = proc.wait()
    term = -1
    if console is not None:
        term = receive_terminal(console) if rc == 0 else -1
        console.close()
        os.unlink("console.sock")
        rc = rc or (0 if term >= 0 else 254)
    streams = [(term, "stdout"), (err_r, "stderr")] if term >= 0 else [(out_r, "stdout"), (err_r, "stderr")]
    if term >= 0:
        os.close(out_r)
    readers = [threading.Thread(target=pump, args=(fd, s, log), daemon=True) for fd, s in streams]
    for t in readers:
        t.start()
    if rc != 0:
        for t in readers:
            t.join(2)
        msg = runc_error("runc.log", f"runc create exited with {rc}").replace("\n", " ")
        sys.stdout.write(f"err {msg}\n")
        sys.stdout.flush()
        return 1
    with open("init.pid") as f:
        pid = int(f.read().strip())
    if a.stdin:
        stdin = Stdin(os.dup(term) if term >= 0 else in_w, bool(a.tty), bool(a.stdin_once))
        server = listen_unix("attach.sock", 4)
        threading.Thread(target=stdin.accept_loop, args=(server,), daemon=True).start()
    sys.stdout.write(f"ok {pid} {os.getpid()}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    code = reap_until(pid)
    finished = time.time()
    oom = oom_killed(a.oom_file) if a.oom_file else False
    for t in readers:  # the pid namespace died with init, so the pipes close promptly
        t.join(5)
    if a.stdin:
        os.unlink("attach.sock")
    write_json("exit.json", {"exit_code": code, "finished_at": finished, "oom_killed": oom})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
