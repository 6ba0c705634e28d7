"""Where a forwarded port connects to, and the dial itself.

Upstream's runtimes enter the pod's network namespace and dial `localhost:<port>`; the agent
here dials the pod's IP from the host instead (pods on the CNI bridge are routable from the
node), and `127.0.0.1:<port>` for hostNetwork pods. So a server in the pod that listens only
on the pod's loopback is not reachable through port-forward (a known difference).

Simulated pods have no network. For tests and demos a simulated pod may name a real loopback
endpoint to stand in for it, with the annotation

    sim.tugboat.dev/portforward-to: "127.0.0.1:8080"          every port goes there
    sim.tugboat.dev/portforward-to: "80=127.0.0.1:8080,443=127.0.0.1:8443"   per remote port

Only loopback hosts are accepted, so a pod annotation cannot make the agent dial elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

SIM_ANNOTATION = "sim.tugboat.dev/portforward-to"
DIAL_TIMEOUT = 10.0


class DialError(Exception):
    """Why the port cannot be reached; the message goes to the client's error stream."""


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def sim_target(pod: dict[str, Any], port: int) -> tuple[str, int]:
    spec = ((pod.get("metadata") or {}).get("annotations") or {}).get(SIM_ANNOTATION, "")
    default: tuple[str, int] | None = None
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        remote, sep, hostport = entry.rpartition("=") if "=" in entry else ("", "", entry)
        host, _, p = hostport.rpartition(":")
        host = host.strip("[]")
        try:
            target = (host, int(p))
        except ValueError:
            continue
        if not _loopback(host):
            raise DialError(f"{SIM_ANNOTATION}: {host} is not a loopback address")
        if sep and remote.strip() == str(port):
            return target
        if not sep and default is None:
            default = target
    if default is None:
        raise DialError(f"simulated pod has no {SIM_ANNOTATION} annotation for port {port}")
    return default


def target_for(pod: dict[str, Any], port: int, simulated: bool) -> tuple[str, int]:
    if simulated:
        return sim_target(pod, port)
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return "127.0.0.1", port
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise DialError("pod has no IP address yet")
    return ip, port


async def dial(pod: dict[str, Any], port: int, simulated: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, p = target_for(pod, port, simulated)
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, p, limit=256 * 1024), DIAL_TIMEOUT)
    except (TimeoutError, OSError) as e:
        reason = "i/o timeout" if isinstance(e, asyncio.TimeoutError) else (e.strerror or str(e)).lower()
        raise DialError(f"failed to connect to {host}:{p}: {reason}") from None
