"""Request body decoding: size limit, JSON/YAML, kind checks, unknown-field policy.

Every path here must end in a 4xx Status for bad input, never a 500: orjson raises on
nesting deeper than 1024 (→ 400), YAML goes through `safe_load`-equivalent construction with
timestamps left as strings (as Kubernetes' YAML→JSON conversion does) and an alias-expansion
cap checked on the composed node graph *before* anything is expanded (CVE-2019-11253).
The body itself is read under the 3 MiB limit at the HTTP edge (`read_limited`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import yaml

from tugboat.api.errors import ApiError, bad_request, too_large, unsupported_media_type

MAX_BODY = 3 * 1024 * 1024
# Nodes a YAML document may expand to through aliases. Real manifests are far below this;
# a billion-laughs document blows past it while its node graph is still tiny.
MAX_YAML_NODES = 200_000


async def read_limited(content_length: int | None, chunks: AsyncIterator[bytes], limit: int = MAX_BODY) -> bytes:
    """Read a body, refusing (413) as soon as it is known to exceed `limit` bytes."""
    if content_length is not None and content_length > limit:
        raise too_large()
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise too_large()
    return bytes(buf)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader that leaves timestamps as strings."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Number of nodes the graph expands to, stopping once above `limit` (memoised per node,
    so a shared alias target is measured once)."""
    memo: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        if isinstance(node, yaml.ScalarNode):
            memo[id(node)] = 1
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                children += [k, v]
        if done:
            total = 1
            for c in children:
                total += memo.get(id(c), 1)
                if total > limit:
                    return total
            memo[id(node)] = total
        else:
            stack.append((node, True))
            if len(stack) > 100_000:
                return limit + 1
            stack.extend((c, False) for c in children if id(c) not in memo)
    return memo.get(id(root), 1)


def loads_yaml(body: bytes) -> Any:
    try:
        loader = _Loader(body)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node, MAX_YAML_NODES) > MAX_YAML_NODES:
                raise bad_request("yaml: document contains excessive aliasing")
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except ApiError:
        raise
    except RecursionError:
        raise bad_request("yaml: exceeded max depth") from None
    except yaml.YAMLError as e:
        raise bad_request(f"error converting YAML to JSON: {e}") from None
    # Round-trip through JSON: rejects what JSON cannot hold, bounds depth.
    try:
        return orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError, orjson.JSONDecodeError, RecursionError) as e:
        raise bad_request(f"error converting YAML to JSON: {e}") from None


def loads_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        msg = str(e)
        if "recursion" in msg.lower():
            raise bad_request("json: exceeded max depth") from None
        raise bad_request(f"couldn't get version/kind; json parse error: {msg}") from None
    except RecursionError:
        raise bad_request("json: exceeded max depth") from None


def decode(body: bytes, content_type: str) -> Any:
    """Decode a JSON or YAML body (the Content-Type decides; empty means JSON)."""
    mt = media_type(content_type)
    if mt in ("", "application/json", "*/*"):
        return loads_json(body)
    if mt in ("application/yaml", "application/x-yaml", "text/yaml"):
        return loads_yaml(body)
    if mt == "application/vnd.kubernetes.protobuf":
        from .protobuf import decode_envelope
        return decode_envelope(body)
    raise unsupported_media_type(mt)


def decode_object(body: bytes, content_type: str, group: str, version: str, kind: str) -> dict[str, Any]:
    """Decode a whole object for create/update and check its kind/apiVersion against the endpoint
    (missing ones are filled in, as upstream's decoder defaults them)."""
    if not body.strip():
        raise bad_request("the body of the request was empty")
    obj = decode(body, content_type)
    if not isinstance(obj, dict):
        raise bad_request(f"the object provided is unrecognized (must be of type {kind})")
    api_version = f"{group}/{version}" if group else version
    got_av = obj.get("apiVersion")
    got_kind = obj.get("kind")
    if got_av is not None and not isinstance(got_av, str) or got_kind is not None and not isinstance(got_kind, str):
        raise bad_request(f"the object provided is unrecognized (must be of type {kind})")
    if got_av and got_av != api_version:
        raise bad_request(
            f"the API version in the data ({got_av}) does not match the expected API version ({api_version})")
    if got_kind and got_kind != kind:
        raise bad_request(f"the object provided is unrecognized (must be of type {kind}): "
                          f"kind {got_kind} does not match {kind}")
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        raise bad_request(f"{kind} in version \"{version}\" cannot be handled as a {kind}: "
                          "metadata must be an object")
    return obj


def field_validation(mode: str) -> str:
    if mode in ("", "Warn"):
        return "Warn"
    if mode in ("Strict", "Ignore"):
        return mode
    raise bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got "{mode}"')
