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
from tugboat.node.envvars import Getter, build_env, command_and_args
from tugboat.node.runtime.base import ContainerConfig, SandboxConfig
from tugboat.node.subpath import check_working_dir
from tugboat.node.volumes import VolumeManager


def dns_config(pod: dict[str, Any], cluster_dns: list[str], cluster_domain: str) -> dict[str, Any]:
    """resolv.conf contents per dnsPolicy (ClusterFirst, ClusterFirstWithHostNet, Default, None)."""
    spec = pod.get("spec") or {}
    ns = (pod.get("metadata") or {}).get("namespace", "default")
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        policy = "Default"
    out: dict[str, Any] = {}
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        out = {"servers": list(cluster_dns),
               "searches": [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain],
               "options": ["ndots:5"]}
    extra = spec.get("dnsConfig") or {}
    if extra:
        out["servers"] = out.get("servers", []) + list(extra.get("nameservers") or [])
        out["searches"] = out.get("searches", []) + list(extra.get("searches") or [])
        opts = [o["name"] + (f":{o['value']}" if o.get("value") else "") for o in extra.get("options") or []]
        out["options"] = [o for o in out.get("options", []) if o.split(":")[0] not in {x.split(":")[0] for x in opts}] + opts
    return out


def sandbox_config(pod: dict[str, Any], attempt: int, cluster_dns: list[str], cluster_domain: str,
                   log_dir: str = "") -> SandboxConfig:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    ports = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append({"containerPort": p.get("containerPort"), "hostPort": p["hostPort"],
                              "protocol": p.get("protocol") or "TCP", "hostIP": p.get("hostIP", "")})
    hostname = spec.get("hostname") or md.get("name", "")
    return SandboxConfig(pod_uid=md.get("uid", ""), name=md.get("name", ""), namespace=md.get("namespace", ""),
                         attempt=attempt, hostname=hostname[:63], host_network=bool(spec.get("hostNetwork")),
                         dns=dns_config(pod, cluster_dns, cluster_domain), port_mappings=ports,
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
    mounts = volumes.mounts(c, volume_paths, env)
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
