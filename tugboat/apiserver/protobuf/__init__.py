"""Decoding Kubernetes protobuf request bodies into JSON-shaped dicts.

kubectl 1.32's typed clients (`kubectl create namespace/configmap/secret/deployment/job…`,
drain's evictions, typed deletes) send `application/vnd.kubernetes.protobuf` bodies with no
JSON fallback, so the server must read them. Responses stay JSON (clients accept it).

Wire: 4-byte magic `k8s\\0`, then a `runtime.Unknown` {typeMeta{apiVersion, kind}, raw}
whose `raw` is the object's message. Field numbers/names come from upstream's
generated.proto files (see gen.py → descriptors.json). Go's proto encoding always writes
non-pointer scalars, so zero scalars ("", 0, false) are dropped — the JSON a typed client
sends omits them too (known loss: an explicit 0 in a pointer field such as replicas).
"""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from tugboat.api.errors import bad_request

MAGIC = b"k8s\x00"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_GROUP_DIRS = {
    "": "core", "apps": "apps", "batch": "batch", "autoscaling": "autoscaling", "policy": "policy",
    "coordination.k8s.io": "coordination", "discovery.k8s.io": "discovery", "events.k8s.io": "events",
    "networking.k8s.io": "networking", "rbac.authorization.k8s.io": "rbac", "storage.k8s.io": "storage",
    "scheduling.k8s.io": "scheduling", "authentication.k8s.io": "authentication",
    "authorization.k8s.io": "authorization", "admissionregistration.k8s.io": "admissionregistration",
    "certificates.k8s.io": "certificates", "node.k8s.io": "node", "flowcontrol.apiserver.k8s.io": "flowcontrol",
}
_VARINT = {"bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64"}
MAX_DEPTH = 100


@functools.cache
def descriptors() -> dict[str, dict[str, list[Any]]]:
    raw = (resources.files(__package__) / "descriptors.json").read_bytes()
    return orjson.loads(raw)  # type: ignore[no-any-return]


class _Err(Exception):
    pass


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(b) or shift > 63:
            raise _Err("truncated varint")
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def _fields(b: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) triples of one message."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    n = len(b)
    v: Any
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            ln, i = _varint(b, i)
            if i + ln > n:
                raise _Err("truncated field")
            v = b[i:i + ln]
            i += ln
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise _Err(f"unsupported wire type {wt}")
        out.append((num, wt, v))
    return out


def _signed(v: int, bits: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v if bits == 64 else (v - (1 << 64) if v >= 1 << 63 else v)


def _scalar(typ: str, wt: int, v: Any) -> Any:
    if typ == "string":
        return bytes(v).decode("utf-8", "replace")
    if typ == "bytes":
        return base64.b64encode(bytes(v)).decode()
    if typ == "bool":
        return bool(v)
    if typ in ("int32", "int64"):
        return _signed(v, 64)
    if typ in ("uint32", "uint64"):
        return v
    if typ in ("double", "fixed64"):
        import struct
        return struct.unpack("<d", v)[0] if typ == "double" else int.from_bytes(v, "little")
    if typ == "float":
        import struct
        return struct.unpack("<f", v)[0]
    raise _Err(f"unsupported scalar {typ}")


def _special(name: str, b: bytes, depth: int) -> tuple[bool, Any]:
    if name in (_META + "Time", _META + "MicroTime"):
        f = {n: v for n, _, v in _fields(b)}
        secs = _signed(f.get(1, 0), 64)
        if secs <= -62135596800 or (secs == 0 and not f.get(2)):
            return True, None
        ts = datetime.fromtimestamp(secs, UTC)
        if name.endswith("MicroTime"):
            return True, ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{f.get(2, 0) // 1000:06d}Z"
        return True, ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == _META + "Duration":
        ns = _signed({n: v for n, _, v in _fields(b)}.get(1, 0), 64)
        return True, _go_duration(ns)
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        f = {n: v for n, _, v in _fields(b)}
        if f.get(1, 0) == 1:
            return True, bytes(f.get(3, b"")).decode()
        return True, _signed(f.get(2, 0), 64)
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, bytes({n: v for n, _, v in _fields(b)}.get(1, b"")).decode()
    if name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", _META + "FieldsV1"):
        raw = bytes({n: v for n, _, v in _fields(b)}.get(1, b""))
        if not raw:
            return True, None
        if raw.startswith(MAGIC):
            return True, decode_envelope(raw, depth + 1)
        return True, orjson.loads(raw)
    return False, None


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = rem / 10**9
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + (f"{s:g}s")
    return sign + out


def _message(name: str, b: bytes, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Err("message nested too deeply")
    name = name.lstrip(".")
    done, val = _special(name, b, depth)
    if done:
        return val
    desc = descriptors().get(name)
    if desc is None:
        raise _Err(f"unknown message type {name}")
    out: dict[str, Any] = {}
    for num, wt, v in _fields(b):
        fd = desc.get(str(num))
        if fd is None:
            continue  # a field newer than our descriptors: ignore, as proto does
        fname, typ = fd[0], fd[1]
        if typ == "map":
            kt, vt = fd[2], fd[3]
            entry = {n: (w, x) for n, w, x in _fields(v)}
            k = _value(kt, *entry[1]) if 1 in entry else ""
            val = _value(vt, *entry[2], depth=depth) if 2 in entry else ("" if vt == "string" else None)
            out.setdefault(fname, {})[str(k)] = val
            continue
        if fd[2] and wt == 2 and typ in _VARINT:  # packed repeated varints
            vals, i = [], 0
            while i < len(v):
                x, i = _varint(v, i)
                vals.append(_scalar(typ, 0, x))
            out.setdefault(fname, []).extend(vals)
            continue
        val = _value(typ, wt, v, depth=depth)
        if fd[2]:
            out.setdefault(fname, []).append(val)
        else:
            out[fname] = val
    return {k: v for k, v in out.items() if _keep(v)}


def _keep(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return v != ""
    return True


def _value(typ: str, wt: int, v: Any, depth: int = 0) -> Any:
    if typ.lstrip(".") in descriptors() or "." in typ:
        return _message(typ, bytes(v), depth + 1)
    return _scalar(typ, wt, v)


def decode_envelope(body: bytes, depth: int = 0) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes magic number")
    try:
        f = {n: v for n, _, v in _fields(body[4:])}
        tm = {n: v for n, _, v in _fields(f.get(1, b""))}
        api_version = bytes(tm.get(1, b"")).decode()
        kind = bytes(tm.get(2, b"")).decode()
        group, _, version = api_version.rpartition("/")
        if group == "meta.k8s.io" or (kind in ("DeleteOptions", "Status", "ListOptions") and not group):
            msg = _META + kind
        elif group in _GROUP_DIRS:
            msg = f"k8s.io.api.{_GROUP_DIRS[group]}.{version}.{kind}"
        else:
            raise bad_request(f"no protobuf decoding for {api_version}, Kind={kind}")
        obj = _message(msg, bytes(f.get(2, b"")), depth)
    except (_Err, UnicodeDecodeError, orjson.JSONDecodeError, KeyError, ValueError, OverflowError) as e:
        raise bad_request(f"the protobuf body could not be decoded: {e}") from None
    if not isinstance(obj, dict):
        raise bad_request("the protobuf body is not an object")
    obj = {"apiVersion": api_version, "kind": kind, **obj}
    return obj
