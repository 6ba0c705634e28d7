"""Container environment as upstream builds it, and `$(VAR)` expansion.

Order matters and follows the kubelet: `envFrom` sources first (ConfigMap/Secret keys, with
prefix; keys that are not valid variable names are skipped), then `env` entries in order,
each one's `value` expanded against what is defined so far. `valueFrom` resolves ConfigMap and
Secret keys (respecting `optional`), downward-API `fieldRef`s and `resourceFieldRef`s (a limit
that is not set falls back to the node's allocatable, as upstream). A missing required
ConfigMap/Secret/key raises `ConfigError`, which the pod worker reports as the container's
`CreateContainerConfigError` with the same message upstream uses.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from tugboat.api.quantity import parse_quantity

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
Getter = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]  # (kind, ns, name) -> obj or None


class ConfigError(Exception):
    """A container cannot be configured yet (CreateContainerConfigError)."""


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: `$$` escapes, undefined references stay as written."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2:end]
            out.append(env[name] if name in env else text[i:end + 1])
            i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def _data(obj: dict[str, Any], kind: str) -> dict[str, str]:
    if kind == "Secret":
        out = {}
        for k, v in (obj.get("data") or {}).items():
            try:
                out[k] = base64.b64decode(v).decode("utf-8", "replace")
            except ValueError:
                out[k] = ""
        out.update(obj.get("stringData") or {})
        return out
    data = dict(obj.get("data") or {})
    for k, v in (obj.get("binaryData") or {}).items():
        data.setdefault(k, base64.b64decode(v).decode("utf-8", "replace"))
    return data


async def _source(get: Getter, kind: str, ns: str, name: str, optional: bool) -> dict[str, str] | None:
    obj = await get(kind, ns, name)
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    return _data(obj, kind)


def field_value(pod: dict[str, Any], path: str) -> str:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = md.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    simple = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"), "status.hostIP": status.get("hostIP"),
              "status.podIP": status.get("podIP"),
              "status.hostIPs": ",".join(i.get("ip", "") for i in status.get("hostIPs") or []),
              "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or [])}
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef {path!r}")
    return str(simple[path] or "")


def resource_value(container: dict[str, Any], ref: dict[str, Any], allocatable: dict[str, str]) -> str:
    """resourceFieldRef: requests/limits.{cpu,memory,ephemeral-storage} / divisor, rounded up."""
    res = ref.get("resource", "")
    kind, _, name = res.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "limits":
        raw = allocatable.get(name)
    if raw is None and kind == "requests" and name in ("cpu", "memory", "ephemeral-storage"):
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        return "0" if kind == "requests" else ""
    value = parse_quantity(raw)
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = Decimal(1)
    return str(math.ceil(value / divisor))


async def build_env(pod: dict[str, Any], container: dict[str, Any], get: Getter,
                    allocatable: dict[str, str]) -> dict[str, str]:
    ns = (pod.get("metadata") or {}).get("namespace", "")
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = src.get(key)
            if not ref:
                continue
            data = await _source(get, kind, ns, ref.get("name", ""), bool(ref.get("optional")))
            for k, v in (data or {}).items():
                if _ENV_NAME.match(prefix + k):
                    env[prefix + k] = v
    for item in container.get("env") or []:
        name = item.get("name", "")
        vf = item.get("valueFrom")
        if not vf:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        if "fieldRef" in vf:
            env[name] = field_value(pod, vf["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in vf:
            target = container
            cname = vf["resourceFieldRef"].get("containerName")
            if cname:
                spec = pod.get("spec") or {}
                target = next((c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                               if c.get("name") == cname), container)
            env[name] = resource_value(target, vf["resourceFieldRef"], allocatable)
        else:
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = vf.get(key)
                if not ref:
                    continue
                optional = bool(ref.get("optional"))
                data = await _source(get, kind, ns, ref.get("name", ""), optional)
                if data is None:
                    break
                k = ref.get("key", "")
                if k not in data:
                    if optional:
                        break
                    raise ConfigError(f"couldn't find key {k} in {kind} {ns}/{ref.get('name', '')}")
                env[name] = data[k]
    return env


def command_and_args(container: dict[str, Any], env: dict[str, str]) -> tuple[list[str], list[str]]:
    """`command`/`args` with `$(VAR)` expanded (the runtime falls back to the image's
    ENTRYPOINT/CMD: command empty → ENTRYPOINT, command and args empty → CMD too)."""
    return ([expand(str(c), env) for c in container.get("command") or []],
            [expand(str(a), env) for a in container.get("args") or []])
