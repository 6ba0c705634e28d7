"""The Kubernetes remotecommand WebSocket framing (exec and attach), server side.

Every message carries one stream ("channel"): its first byte is the channel number, the rest
is payload. Channels: 0 stdin (client → server), 1 stdout, 2 stderr, 3 error/status (one
message at the end), 4 terminal resize (`{"Width":W,"Height":H}`), 255 a v5 CLOSE signal
whose payload byte names the stream the client closed (`ff 00` = stdin EOF). Subprotocols,
as upstream's wsstream and remotecommand serve them:

- `v5.channel.k8s.io`  binary frames; status as a JSON metav1.Status; CLOSE signal (kubectl 1.30+)
- `v4.channel.k8s.io`  the same without the CLOSE signal (older clients)
- `channel.k8s.io`     binary frames; channel 3 carries a plain error message, nothing on success
- `base64.channel.k8s.io`  text frames: the channel is an ASCII digit, the payload base64
  (browsers); `v4.base64.channel.k8s.io` the same with Status JSON

Clients may send text frames too (the Python client sends `str` stdin as text): they are
decoded the same way as binary ones.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
V1, B64, V4_B64 = "channel.k8s.io", "base64.channel.k8s.io", "v4.base64.channel.k8s.io"
# In the server's order of preference; the chosen one is the first the client offered that we serve.
PROTOCOLS = (V5, V4, V4_B64, V1, B64)


@dataclass(frozen=True)
class Framing:
    protocol: str

    @property
    def base64(self) -> bool:
        return "base64" in self.protocol

    @property
    def status_json(self) -> bool:
        return self.protocol.startswith(("v4.", "v5."))

    @property
    def has_close(self) -> bool:
        return self.protocol == V5

    def encode(self, channel: int, payload: bytes) -> bytes | str:
        """A message for the wire: bytes (binary frame) or str (text frame, base64 protocols)."""
        if self.base64:
            return chr(ord("0") + channel) + base64.b64encode(payload).decode("ascii")
        return bytes((channel,)) + payload

    def decode(self, data: bytes | str) -> tuple[int, bytes] | None:
        """(channel, payload) of a received message; None for an empty or undecodable one."""
        if isinstance(data, str):
            if self.base64:
                if not data:
                    return None
                try:
                    return ord(data[0]) - ord("0"), base64.b64decode(data[1:])
                except ValueError:
                    return None
            data = data.encode("utf-8", "surrogateescape")
        if not data:
            return None
        if self.base64:
            try:
                return data[0] - ord("0"), base64.b64decode(data[1:])
            except ValueError:
                return None
        return data[0], bytes(data[1:])

    def status(self, st: dict[str, Any]) -> bytes | str | None:
        """The channel-3 message for a final Status; None when the protocol sends nothing."""
        if self.status_json:
            return self.encode(ERROR, orjson.dumps(st))
        if st.get("status") == "Success":
            return None
        return self.encode(ERROR, str(st.get("message", "")).encode())


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    """What kubectl turns into `command terminated with exit code N` (remotecommand v4)."""
    if code == 0:
        return success()
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure(message: str, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from a channel-4 message; None when it is not a TerminalSize."""
    try:
        obj = orjson.loads(payload)
        return int(obj.get("Width", 0)), int(obj.get("Height", 0))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None
