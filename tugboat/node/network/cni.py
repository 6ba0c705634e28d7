"""Invoke CNI plugin binaries with the CNI protocol (spec 1.0.0).

A plugin is an executable found in CNI_PATH, called with CNI_COMMAND (ADD/DEL/CHECK),
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH and CNI_ARGS in its environment and its
network configuration as JSON on stdin. For a chained network list each plugin's config
gets the list's `name`/`cniVersion` plus the previous plugin's result as `prevResult`, and
`runtimeConfig` for the capabilities it declares (portMappings). Errors come back as JSON
on stdout ({"code", "msg", "details"}). We call the binaries directly instead of linking
libcni: it is a few lines and keeps the agent pure Python.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

CNI_VERSION = "1.0.0"


class CNIError(Exception):
    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str = ""):
        super().__init__(f"CNI {plugin} {command} failed (code {code}): {msg}{': ' + details if details else ''}")
        self.plugin, self.command, self.code, self.msg, self.details = plugin, command, code, msg, details


@dataclass
class Invocation:
    container_id: str
    netns: str
    ifname: str = "eth0"
    args: dict[str, str] = field(default_factory=dict)  # CNI_ARGS key/values (IgnoreUnknown is added)
    runtime_config: dict[str, Any] = field(default_factory=dict)  # capability name → value


def plugin_conf(net_name: str, plugin: dict[str, Any], inv: Invocation,
                prev_result: dict[str, Any] | None) -> dict[str, Any]:
    """One chained plugin's stdin: its own config + name/cniVersion/prevResult/runtimeConfig."""
    conf = dict(plugin)
    conf["name"] = net_name
    conf["cniVersion"] = CNI_VERSION
    caps = plugin.get("capabilities") or {}
    rc = {k: v for k, v in inv.runtime_config.items() if caps.get(k)}
    if rc:
        conf["runtimeConfig"] = rc
    if prev_result is not None:
        conf["prevResult"] = prev_result
    return conf


async def invoke(cni_bin: str, command: str, conf: dict[str, Any], inv: Invocation) -> dict[str, Any]:
    plugin = conf["type"]
    path = os.path.join(cni_bin, plugin)
    cni_args = ";".join(["IgnoreUnknown=1", *(f"{k}={v}" for k, v in inv.args.items())])
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": inv.container_id,
        "CNI_NETNS": inv.netns,
        "CNI_IFNAME": inv.ifname,
        "CNI_PATH": cni_bin,
        "CNI_ARGS": cni_args,
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    proc = await asyncio.create_subprocess_exec(
        path, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate(orjson.dumps(conf))
    if proc.returncode != 0:
        try:
            e = orjson.loads(out)
            raise CNIError(plugin, command, int(e.get("code", 999)), str(e.get("msg", "")), str(e.get("details", "")))
        except (orjson.JSONDecodeError, AttributeError):
            raise CNIError(plugin, command, 999, (out + err).decode(errors="replace").strip()) from None
    if not out.strip():
        return {}
    result: dict[str, Any] = orjson.loads(out)
    return result


async def add_chain(cni_bin: str, net_name: str, plugins: list[dict[str, Any]], inv: Invocation) -> dict[str, Any]:
    result: dict[str, Any] | None = None
    for plugin in plugins:
        result = await invoke(cni_bin, "ADD", plugin_conf(net_name, plugin, inv, result), inv)
    return result or {}


async def check_chain(cni_bin: str, net_name: str, plugins: list[dict[str, Any]], inv: Invocation,
                      prev: dict[str, Any]) -> None:
    for plugin in plugins:
        await invoke(cni_bin, "CHECK", plugin_conf(net_name, plugin, inv, prev), inv)


async def del_chain(cni_bin: str, net_name: str, plugins: list[dict[str, Any]], inv: Invocation,
                    prev: dict[str, Any] | None) -> list[CNIError]:
    """DEL in reverse order; every plugin runs even if one fails (errors returned)."""
    errors = []
    for plugin in reversed(plugins):
        try:
            await invoke(cni_bin, "DEL", plugin_conf(net_name, plugin, inv, prev), inv)
        except CNIError as e:
            errors.append(e)
    return errors
