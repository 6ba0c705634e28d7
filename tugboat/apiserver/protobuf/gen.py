"""Regenerate `descriptors.json` from Kubernetes' `generated.proto` files (dev tool, not run
at server start).

Only the facts the wire format needs are kept: per message, field number → (json name, type,
repeated/map). Usage:
    python -m tugboat.apiserver.protobuf.gen API_REPO_DIR APIMACHINERY_REPO_DIR
where the dirs are checkouts of k8s.io/api and k8s.io/apimachinery (field numbers are
append-only, so a newer checkout decodes older clients' messages).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import orjson

API_DIRS = ["core/v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1", "coordination/v1",
            "discovery/v1", "events/v1", "networking/v1", "rbac/v1", "storage/v1", "scheduling/v1",
            "authentication/v1", "authorization/v1", "admissionregistration/v1", "certificates/v1", "node/v1",
            "flowcontrol/v1"]
MACHINERY = ["pkg/apis/meta/v1/generated.proto", "pkg/runtime/generated.proto",
             "pkg/util/intstr/generated.proto", "pkg/api/resource/generated.proto"]
_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*(\w+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)")
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float", "fixed64", "sint32",
           "sint64"}


def parse(text: str, out: dict[str, dict[str, list[object]]]) -> None:
    text = re.sub(r"//[^\n]*", "", text)
    pkg = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M)
    assert pkg
    package = pkg.group(1)
    stack: list[str] = []
    local: list[tuple[str, str, list[object]]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*message\s+(\w+)\s*\{", line)
        if m:
            stack.append(m.group(1))
            out[package + "." + ".".join(stack)] = {}
            continue
        if re.match(r"^\s*\}", line) and stack:
            stack.pop()
            continue
        if not stack:
            continue
        f = _FIELD.match(line)
        if not f:
            continue
        label, typ, mk, mv, name, num = f.groups()
        msg = package + "." + ".".join(stack)
        if mk:
            entry: list[object] = [name, "map", mk, mv]
        else:
            entry = [name, typ, 1 if label == "repeated" else 0]
        out[msg][num] = entry
        local.append((package, msg, entry))
    # resolve message type names relative to the package
    for package, _msg, entry in local:
        idx = 3 if entry[1] == "map" else 1
        t = str(entry[idx])
        if t not in SCALARS and "." not in t:
            entry[idx] = package + "." + t


def main() -> None:
    api, machinery = Path(sys.argv[1]), Path(sys.argv[2])
    out: dict[str, dict[str, list[object]]] = {}
    for d in API_DIRS:
        parse((api / d / "generated.proto").read_text(), out)
    for p in MACHINERY:
        parse((machinery / p).read_text(), out)
    (Path(__file__).parent / "descriptors.json").write_bytes(orjson.dumps(out, option=orjson.OPT_SORT_KEYS))


if __name__ == "__main__":
    main()
