"""A streaming exec backed by a host process (`runc exec`): pipes, or a pseudo-terminal.

Without a tty the command gets three pipes (stdin only if asked) and `runc exec` hands them
to the process in the container as they are. With a tty we run `runc exec -t` with its stdio
on a pty we allocate: runc creates the container's own terminal and copies between the two
(putting ours in raw mode), and it follows our terminal's size on SIGWINCH — so a resize is
TIOCSWINSZ on our side plus a SIGWINCH to runc. We chose this over `--console-socket` (runc
passes the container terminal's master fd over a unix socket, which needs `--detach`, after
which nobody is left to wait for the exit code). runc only copies our size to the container's
terminal after the command has started, so a command that asks at once (`stty size`) would
see 0 0: with a tty we pass the container's own process spec (its config.json) with the new
args and `consoleSize` via `--process`, which runc applies before the command runs. runc
writes the container process's host pid to `--pid-file`; `kill()` uses it, since killing runc
alone would leave the command running.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios

_CHUNK = 32 * 1024
_EOT = b"\x04"


class ProcessExec:
    """`ExecStream` over a subprocess (see runtime.base.ExecStream)."""

    def __init__(self, proc: asyncio.subprocess.Process, *, tty: bool, pid_file: str = "",
                 master: int = -1, writer: asyncio.StreamWriter | None = None, spec_file: str = ""):
        self.proc = proc
        self.tty = tty
        self.pid_file = pid_file
        self.spec_file = spec_file
        self._master = master
        self._writer = writer
        self._queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue(maxsize=16)
        self._open = 0
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(cls, argv: list[str], *, tty: bool, stdin: bool, pid_file: str = "",
                    size: tuple[int, int] = (80, 24), spec_file: str = "") -> ProcessExec:
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
            self = cls(proc, tty=False, pid_file=pid_file)
            assert proc.stdout is not None and proc.stderr is not None
            self._pump(1, proc.stdout)
            self._pump(2, proc.stderr)
            return self
        master, slave = pty.openpty()
        try:
            _set_size(master, *size)
            proc = await asyncio.create_subprocess_exec(*argv, stdin=slave, stdout=slave, stderr=slave,
                                                        start_new_session=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(master, "rb", 0))
        wfd = os.dup(master)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(wfd, "wb", 0))
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self = cls(proc, tty=True, pid_file=pid_file, master=wfd, writer=writer, spec_file=spec_file)
        self._pump(1, reader)
        return self

    def _pump(self, channel: int, reader: asyncio.StreamReader) -> None:
        self._open += 1

        async def run() -> None:
            try:
                while True:
                    try:
                        data = await reader.read(_CHUNK)
                    except OSError:  # EIO on a pty master once the last slave is closed
                        data = b""
                    if not data:
                        return
                    await self._queue.put((channel, data))
            finally:
                await self._queue.put((-1, b""))
        self._tasks.append(asyncio.get_running_loop().create_task(run()))

    async def read(self) -> tuple[int, bytes]:
        while self._open:
            ch, data = await self._queue.get()
            if ch >= 0:
                return ch, data
            self._open -= 1
        return 0, b""

    async def write(self, data: bytes) -> None:
        w = self._writer if self.tty else self.proc.stdin
        if w is None or w.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError):
            w.write(data)
            await w.drain()

    async def close_stdin(self) -> None:
        if self.tty:
            await self.write(_EOT)  # runc's side of the terminal is in canonical mode: ^D is EOF
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.tty and self._master >= 0 and width > 0 and height > 0:
            with contextlib.suppress(OSError):
                _set_size(self._master, width, height)
                os.kill(self.proc.pid, signal.SIGWINCH)

    async def wait(self) -> int:
        code = await self.proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._close()
        return code if code >= 0 else 128 - code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            # runc writes the pid file just after starting the command: give it a moment.
            for _ in range(20):
                if not self.pid_file or os.path.exists(self.pid_file):
                    break
                await asyncio.sleep(0.01)
            pids: list[int] = []
            with contextlib.suppress(OSError, ValueError):
                with open(self.pid_file) as f:
                    pids.append(int(f.read().strip()))
            pids.append(self.proc.pid)
            # The exec'd command and everything it started (a shell's children would
            # otherwise be re-parented to the container's init and keep running).
            for root in pids:
                for p in [*_descendants(root), root]:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(p, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._master = -1
        for path in (self.pid_file, self.spec_file):
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _descendants(pid: int) -> list[int]:
    """Pids of all descendants of `pid`, from /proc (children before their parents' kin)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = list(children.get(pid, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def _set_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def start_runc_exec(rt: object, container_id: str, cmd: list[str], *, tty: bool, stdin: bool,
                          size: tuple[int, int] | None = None) -> ProcessExec:
    """`runc exec` into a RuncRuntime container (runtime.runc.RuncRuntime.exec_stream)."""
    import secrets

    from tugboat.node.runtime.runc import RuncRuntime

    assert isinstance(rt, RuncRuntime)
    st = await rt.container_status(container_id)
    if st is None or st.state != "running":
        raise RuntimeError(f"container {container_id[:12]} is not running")
    cdir = rt.store.container_dir(container_id)
    token = secrets.token_hex(4)
    pid_file = os.path.join(cdir, f"exec-{token}.pid")
    if not tty:
        argv = rt.runc.argv("exec", "--pid-file", pid_file, container_id, *cmd)
        return await ProcessExec.start(argv, tty=False, stdin=stdin, pid_file=pid_file)
    width, height = size if size and size[0] > 0 and size[1] > 0 else (80, 24)
    spec_file = os.path.join(cdir, f"exec-{token}.json")
    _write_exec_spec(os.path.join(cdir, "config.json"), spec_file, cmd, width, height)
    argv = rt.runc.argv("exec", "--process", spec_file, "--pid-file", pid_file, container_id)
    try:
        return await ProcessExec.start(argv, tty=True, stdin=stdin, pid_file=pid_file, size=(width, height),
                                       spec_file=spec_file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(spec_file)
        raise


def _write_exec_spec(config_json: str, out: str, cmd: list[str], width: int, height: int) -> None:
    """The container's process (user, env, cwd, capabilities … as `runc exec` would take them
    from config.json) with `cmd` on a terminal of the given size."""
    import orjson

    try:
        with open(config_json, "rb") as f:
            process = dict(orjson.loads(f.read()).get("process") or {})
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read the container's spec: {e}") from e
    process.update(args=list(cmd), terminal=True, consoleSize={"width": width, "height": height})
    with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(orjson.dumps(process))
