"""The agent's side of a shim's attach socket: writes to a running container's stdin.

A container with `stdin: true` keeps its stdin open in its shim (runc_shim.py / tugshim.c),
which serves it on `attach.sock` in the container's directory; `kubectl attach -i` and
`kubectl run -i` reach it through here. The socket is found through a directory fd
(`/proc/self/fd/N/attach.sock`) because a container directory's full path can be longer
than a unix socket address may be (108 bytes). Frames: type byte, 4-byte big-endian length,
payload; `d` data, `r` terminal size, `c` stdin EOF. Output does not come back this way: the
shim writes it to the CRI log, which attach follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

CHUNK = 32 * 1024
SOCKET = "attach.sock"


class ShimAttach:
    """One attach session's stdin. Closing it without `close_stdin()` leaves the container's
    stdin open for the next attach — unless the container is stdinOnce (the shim decides)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, container_dir: str) -> ShimAttach | None:
        """None when the container keeps no stdin (no socket) or has exited."""
        try:
            dfd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{dfd}/{SOCKET}")
        except (FileNotFoundError, ConnectionRefusedError):
            return None
        finally:
            os.close(dfd)
        return cls(reader, writer)

    async def _frame(self, kind: bytes, payload: bytes) -> None:
        self._writer.write(kind + len(payload).to_bytes(4, "big") + payload)
        await self._writer.drain()

    async def write(self, data: bytes) -> None:
        for i in range(0, len(data), CHUNK):
            await self._frame(b"d", data[i:i + CHUNK])

    async def resize(self, width: int, height: int) -> None:
        await self._frame(b"r", struct.pack(">HH", width & 0xFFFF, height & 0xFFFF))

    async def close_stdin(self) -> None:
        await self._frame(b"c", b"")

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
