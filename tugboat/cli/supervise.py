"""Run a child process of `tug server` and keep it running.

The components process (controllers, scheduler) is restarted with a capped back-off if it
exits, the way a service manager would, and is stopped by pid (SIGTERM, then SIGKILL after a
grace period) when the server shuts down. Its output goes to a log file in the data dir.
A child gets SIGTERM from the kernel if the server dies without stopping it (SIGKILL, crash):
no orphaned agent or proxy keeps running against a server that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("tug.supervise")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: its own process group, so a Ctrl-C on the terminal reaches
    only `tug server` (which then stops the children in order), and SIGTERM when the parent
    dies, so a killed server leaves no children behind."""
    import ctypes

    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Supervisor:
    def __init__(self, name: str, argv: list[str], *, log_path: Path, grace: float = 10.0):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.grace = grace
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"supervise-{self.name}")

    async def _loop(self) -> None:
        delay = 1.0
        while not self._stopping:
            with open(self.log_path, "ab") as out:
                self.proc = await asyncio.create_subprocess_exec(*self.argv, stdout=out, stderr=out,
                                                                 stdin=asyncio.subprocess.DEVNULL,
                                                                 preexec_fn=_die_with_parent)
            started = asyncio.get_running_loop().time()
            rc = await self.proc.wait()
            if self._stopping:
                return
            ran = asyncio.get_running_loop().time() - started
            delay = 1.0 if ran > 60 else min(delay * 2, 30.0)
            log.warning("%s exited with %s; restarting in %.0fs (log: %s)", self.name, rc, delay, self.log_path)
            print(f"tug: {self.name} exited ({rc}); restarting in {delay:.0f}s", flush=True)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        p = self.proc
        if p is not None and p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(p.wait(), self.grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                await p.wait()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
