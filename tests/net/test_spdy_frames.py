"""SPDY/3 frame codec: real kubectl bytes decode, every frame type round-trips, bad input fails cleanly."""

from __future__ import annotations

import zlib

import pytest

from tugboat.net import spdy_frames as F
from tugboat.net.spdy_dictionary import HEADER_DICTIONARY

# What kubectl 1.32.4 (client-go + moby/spdystream) sent after `Upgrade: SPDY/3.1` when one
# local connection wrote "hello": SYN_STREAM 1 (error), FIN on 1, SYN_STREAM 3 (data), DATA.
# Captured on this machine against a stub server that answered each SYN_STREAM with SYN_REPLY.
KUBECTL_CAPTURE = bytes.fromhex(
    "800300010000003d0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a080"
    "8614cb45a024cc6461c0c0c0c0590489c44c50e2663400000000ffff0000000101000000800300010000"
    "001800000003000000000000c2aa15540a2512d209000000ffff000000030000000568656c6c6f")


def test_decodes_a_real_kubectl_capture_split_anywhere() -> None:
    for split in (1, 3, 8, 9, 50, len(KUBECTL_CAPTURE)):
        dec = F.FrameDecoder()
        frames: list[F.Frame] = []
        for i in range(0, len(KUBECTL_CAPTURE), split):
            frames += dec.feed(KUBECTL_CAPTURE[i:i + split])
        assert frames == [
            F.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}),
            F.DataFrame(1, b"", F.FLAG_FIN),
            F.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}),
            F.DataFrame(3, b"hello"),
        ]


def test_header_blocks_use_one_zlib_stream_with_the_spdy3_dictionary() -> None:
    enc = F.FrameEncoder()
    first = enc.encode(F.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}))
    second = enc.encode(F.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}))
    # an independent zlib inflater primed with the dictionary reads our header blocks
    z = zlib.decompressobj(zdict=HEADER_DICTIONARY)
    raw1 = z.decompress(first[18:])
    assert raw1 == F.pack_header_block({"streamtype": "error", "port": "80", "requestid": "0"})
    assert z.decompress(second[18:]) == F.pack_header_block({"streamtype": "data", "port": "80", "requestid": "0"})
    # the shared context makes the repeated header names nearly free the second time
    assert len(second) < len(first)


def test_every_frame_type_round_trips() -> None:
    frames: list[F.Frame] = [
        F.SynStream(5, {"a": "1", "multi": "x\x00y"}, F.FLAG_FIN | F.FLAG_UNIDIRECTIONAL, 3, 7, 0),
        F.SynReply(5, {}, F.FLAG_FIN),
        F.HeadersFrame(5, {"k": "v"}),
        F.DataFrame(5, b"x" * 70000, F.FLAG_FIN),
        F.RstStream(5, F.CANCEL),
        F.Settings([(0, F.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20), (1, 4, 100)]),
        F.Ping(2),
        F.GoAway(9, F.GOAWAY_PROTOCOL_ERROR),
        F.WindowUpdate(0, 32768),
    ]
    enc, dec = F.FrameEncoder(), F.FrameDecoder()
    wire = b"".join(enc.encode(f) for f in frames)
    assert dec.feed(wire) == frames


def test_control_frame_header_layout() -> None:
    wire = F.FrameEncoder().encode(F.Ping(7))
    assert wire == bytes.fromhex("80030006" "00000004" "00000007")
    wire = F.FrameEncoder().encode(F.RstStream(3, F.REFUSED_STREAM))
    assert wire == bytes.fromhex("80030003" "00000008" "00000003" "00000003")
    assert F.FrameEncoder().encode(F.DataFrame(3, b"ab", F.FLAG_FIN)) == bytes.fromhex("00000003" "01000002") + b"ab"


def test_unknown_control_frames_are_skipped() -> None:
    wire = bytes.fromhex("8003000a" "00000002") + b"zz" + F.FrameEncoder().encode(F.Ping(1))
    assert F.FrameDecoder().feed(wire) == [F.Ping(1)]


@pytest.mark.parametrize("wire", [
    bytes.fromhex("80020006" "00000004" "00000001"),            # SPDY/2
    bytes.fromhex("80030001" "00000010") + b"\x00" * 16,       # SYN_STREAM with garbage headers
    bytes.fromhex("80030006" "00000002" "0000"),                # short PING
])
def test_malformed_input_raises_protocol_error(wire: bytes) -> None:
    with pytest.raises(F.SpdyProtocolError):
        F.FrameDecoder().feed(wire)


def test_oversized_frames_and_header_bombs_are_refused() -> None:
    with pytest.raises(F.SpdyProtocolError):
        F.FrameDecoder(max_frame=1024).feed(bytes.fromhex("00000001" "00100000"))
    z = zlib.compressobj(zdict=HEADER_DICTIONARY)
    bomb = z.compress(F.pack_header_block({"x": "a" * (F.MAX_HEADER_BLOCK + 10)})) + z.flush(zlib.Z_SYNC_FLUSH)
    payload = bytes.fromhex("00000001" "00000000" "0000") + bomb
    wire = bytes.fromhex("80030001") + len(payload).to_bytes(4, "big") + payload
    with pytest.raises(F.SpdyProtocolError, match="too large"):
        F.FrameDecoder().feed(wire)
