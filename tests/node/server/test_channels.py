"""remotecommand WebSocket framing: what kubectl and the Python client put on the wire."""

from __future__ import annotations

import orjson

from tugboat.node.server import channels as ch


def test_binary_framing_v5() -> None:
    f = ch.Framing(ch.V5)
    assert f.encode(ch.STDOUT, b"hi") == b"\x01hi"
    # measured kubectl frames: stdin data, stdin close, resize
    assert f.decode(bytes.fromhex("0068656c6c6f2d737464696e0a")) == (0, b"hello-stdin\n")
    assert f.decode(b"\xff\x00") == (ch.CLOSE, b"\x00")
    chan, payload = f.decode(bytes.fromhex("047b225769647468223a302c22486569676874223a307d0a"))  # type: ignore[misc]
    assert chan == ch.RESIZE and ch.parse_resize(payload) == (0, 0)
    assert f.has_close and not ch.Framing(ch.V4).has_close
    assert f.decode(b"") is None


def test_text_frames_from_the_python_client_decode_like_binary() -> None:
    assert ch.Framing(ch.V4).decode("\x00abc") == (0, b"abc")


def test_base64_framing() -> None:
    f = ch.Framing(ch.B64)
    assert f.encode(ch.STDERR, b"oops") == "2b29wcw=="
    assert f.decode("0aGk=") == (0, b"hi")
    assert f.status(ch.success()) is None  # old protocols send nothing on success
    assert f.status(ch.failure("boom")) == "3" + "Ym9vbQ=="


def test_exit_status_is_what_kubectl_turns_into_an_exit_code() -> None:
    msg = ch.Framing(ch.V5).status(ch.exit_status(2))
    assert isinstance(msg, bytes) and msg[0] == ch.ERROR
    st = orjson.loads(msg[1:])
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
    assert orjson.loads(ch.Framing(ch.V4).status(ch.exit_status(0))[1:]) == {"metadata": {}, "status": "Success"}  # type: ignore[index]


def test_parse_resize_rejects_garbage() -> None:
    assert ch.parse_resize(b'{"Width":120,"Height":40}\n') == (120, 40)
    assert ch.parse_resize(b"nope") is None
