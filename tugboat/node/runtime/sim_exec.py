"""Streaming exec for the simulated runtime: a few canned commands, no processes.

Hollow nodes have nothing to run, but `kubectl exec` against them should still show the whole
path (API server → agent → runtime → exit status) working. Understood commands:

  echo ARGS…        ARGS joined by spaces + newline on stdout
  cat               copies stdin to stdout until stdin closes
  sh -c 'A; B; …'   each part one of these commands; `echo X >&2` writes to stderr
  exit N, true, false, sleep SECONDS
  anything else     `sim: NAME: not found` on stderr, exit code 127 (as a shell says it)

The exit code is the last command's. With a tty, stdout and stderr both go to the terminal.
"""

from __future__ import annotations

import asyncio
import shlex


class SimExec:
    """`ExecStream` (runtime.base) for SimulatedRuntime.exec_stream."""

    def __init__(self, cmd: list[str], *, tty: bool, stdin: bool):
        self.tty = tty
        self._out: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._stdin: asyncio.Queue[bytes] = asyncio.Queue()
        self._stdin_open = stdin
        if not stdin:
            self._stdin.put_nowait(b"")
        self._size = (0, 0)
        self._task = asyncio.get_running_loop().create_task(self._run(cmd))

    def _emit(self, channel: int, data: bytes) -> None:
        if data:
            self._out.put_nowait((1 if self.tty else channel, data))

    async def _run(self, cmd: list[str]) -> int:
        try:
            if len(cmd) >= 3 and cmd[0] in ("sh", "/bin/sh") and cmd[1] == "-c":
                code = 0
                for part in cmd[2].split(";"):
                    words = shlex.split(part)
                    if words:
                        code = await self._one(words)
                        if words[0] == "exit":
                            break
                return code
            return await self._one(cmd)
        finally:
            self._out.put_nowait((0, b""))

    async def _one(self, words: list[str]) -> int:
        name, args = words[0].rsplit("/", 1)[-1], words[1:]
        if name == "echo":
            err = bool(args) and args[-1] == ">&2"
            text = " ".join(args[:-1] if err else args) + "\n"
            self._emit(2 if err else 1, text.encode())
            return 0
        if name == "cat":
            while data := await self._stdin.get():
                self._emit(1, data)
            return 0
        if name in ("true", "false"):
            return 0 if name == "true" else 1
        if name == "exit":
            return int(args[0]) if args and args[0].isdigit() else 0
        if name == "sleep":
            await asyncio.sleep(float(args[0]) if args else 0)
            return 0
        self._emit(2, f"sim: {name}: not found\n".encode())
        return 127

    async def read(self) -> tuple[int, bytes]:
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        if self._stdin_open and data:
            self._stdin.put_nowait(data)

    async def close_stdin(self) -> None:
        if self._stdin_open:
            self._stdin_open = False
            self._stdin.put_nowait(b"")

    def resize(self, width: int, height: int) -> None:
        self._size = (width, height)

    async def wait(self) -> int:
        return await self._task

    async def kill(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
