"""Turning a pod spec into runtime configs: the sandbox (DNS, ports, labels) and one container
(image, command/args with `$(VAR)` expansion, env, mounts, resources, labels that let a
restarted agent recognise it). Everything here is pure except the ConfigMap/Secret reads,
which go through the `Getter` the pod worker passes in.
"""

from __future__ import annotations

import os
from typing import Any

from tugboat.api.quantity import parse_quantity
from tugboat.node import keys
from tugboat.node.dnsconfig import pod_dns
from tugboat.node.envvars import Getter, build_env, command_and_args
from tugboat.node.runtime.base import ContainerConfig, SandboxConfig
from tugboat.node.subpath import check_working_dir
from tugboat.node.volumes import VolumeManager


def sandbox_config(pod: dict[str, Any], attempt: int, cluster_dns: list[str], cluster_domain: str,
                   log_dir: str = "", dns_warnings: list[tuple[str, str]] | None = None) -> SandboxConfig:
    """`dns_warnings` (when given) collects the (reason, message) of what the DNS configurer had
    to cut or fall back on (dnsconfig.py), for the caller to record as Warning events."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    ports = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append({"containerPort": p.get("containerPort"), "hostPort": p["hostPort"],
                              "protocol": p.get("protocol") or "TCP", "hostIP": p.get("hostIP", "")})
    hostname = spec.get("hostname") or md.get("name", "")
    dns = pod_dns(pod, cluster_dns=cluster_dns, cluster_domain=cluster_domain)
    if dns_warnings is not None:
        dns_warnings.extend(dns.warnings)
    return SandboxConfig(pod_uid=md.get("uid", ""), name=md.get("name", ""), namespace=md.get("namespace", ""),
                         attempt=attempt, hostname=hostname[:63], host_network=bool(spec.get("hostNetwork")),
                         dns=dns.as_sandbox_dns(), port_mappings=ports,
                         labels=keys.pod_labels(pod), annotations=dict(md.get("annotations") or {}), pod=pod)


def _milli(v: Any) -> int:
    return int(parse_quantity(v) * 1000)


async def container_config(pod: dict[str, Any], c: dict[str, Any], *, attempt: int, kind: str, get: Getter,
                           allocatable: dict[str, str], volumes: VolumeManager, volume_paths: dict[str, str],
                           log_dir: str) -> ContainerConfig:
    """Raises ConfigError (CreateContainerConfigError) when it cannot be built."""
    env = await build_env(pod, c, get, allocatable)
    command, args = command_and_args(c, env)
    check_working_dir(c.get("workingDir", ""))
    mounts = volumes.mounts(c, volume_paths, env, pod_uid=(pod.get("metadata") or {}).get("uid", ""))
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    labels = {**keys.pod_labels(pod), keys.CONTAINER_NAME: c.get("name", ""),
              keys.CONTAINER_RESTART_COUNT: str(attempt), keys.CONTAINER_KIND: kind}
    annotations = {keys.CONTAINER_RESTART_COUNT: str(attempt),
                   "io.kubernetes.container.terminationMessagePath": c.get("terminationMessagePath", ""),
                   "io.kubernetes.pod.terminationGracePeriod":
                       str((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))}
    return ContainerConfig(
        name=c.get("name", ""), image=c.get("image", ""), command=command, args=args, env=env,
        working_dir=c.get("workingDir", ""), mounts=mounts, tty=bool(c.get("tty")), stdin=bool(c.get("stdin")),
        stdin_once=bool(c.get("stdinOnce")), log_path=os.path.join(log_dir, c.get("name", ""), f"{attempt}.log"),
        cpu_request_milli=_milli(req.get("cpu") or lim.get("cpu") or 0),
        cpu_limit_milli=_milli(lim["cpu"]) if "cpu" in lim else None,
        memory_limit_bytes=int(parse_quantity(lim["memory"])) if "memory" in lim else None,
        security_context={**((pod.get("spec") or {}).get("securityContext") or {}), **(c.get("securityContext") or {})},
        attempt=attempt, labels=labels, annotations=annotations, spec=c)
