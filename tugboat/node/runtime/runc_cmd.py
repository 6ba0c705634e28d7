"""Running the runc binary (and waiting for processes that are not our children).

Every runc call goes through `Runc.run` with the runtime's own `--root`, so Tugboat's
containers never mix with other runc users on the host (`runc list` shows only ours).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson


class RuncError(RuntimeError):
    def __init__(self, args: list[str], rc: int, stderr: str):
        super().__init__(f"runc {' '.join(args)} failed ({rc}): {stderr.strip()}")
        self.rc, self.stderr = rc, stderr


class Runc:
    def __init__(self, binary: str, root: str):
        self.binary = binary
        self.root = root

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    async def run(self, *args: str, check: bool = True, timeout: float = 60.0) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        rc = proc.returncode or 0
        if check and rc != 0:
            raise RuncError(list(args), rc, err.decode(errors="replace"))
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    async def version(self) -> str:
        proc = await asyncio.create_subprocess_exec(self.binary, "--version", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuncError(["--version"], proc.returncode or 1, err.decode())
        return out.decode()

    async def list(self) -> list[dict[str, Any]]:
        _, out, _ = await self.run("list", "--format", "json")
        data = orjson.loads(out) if out.strip() else None
        return list(data or [])

    async def kill(self, cid: str, sig: str) -> bool:
        rc, _, _ = await self.run("kill", cid, sig, check=False)
        return rc == 0

    async def delete(self, cid: str) -> None:
        rc, _, err = await self.run("delete", "--force", cid, check=False)
        if rc != 0 and "does not exist" not in err and "not exist" not in err:
            raise RuncError(["delete", "--force", cid], rc, err)


async def wait_pid_exit(pid: int, timeout: float) -> bool:
    """Wait until process `pid` (not necessarily our child) exits; True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)
