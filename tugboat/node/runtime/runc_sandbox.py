"""Pod sandboxes without a pause process: namespaces kept alive by bind mounts.

A sandbox's network, IPC and UTS namespaces are created by one `unshare --net=F --ipc=F
--uts=F` call that also sets the pod's hostname, and persist as bind-mounted files (the
netns under /run/netns/tug-<id>, so `ip netns exec` works; IPC/UTS under the runtime's
state dir). Every container of the pod joins them by path in its OCI spec. The pod's
/dev/shm is a 64 MiB tmpfs per sandbox (shared by its containers, as with a pause
container's IPC namespace). /etc/hosts, /etc/resolv.conf and /etc/hostname are files in
the sandbox dir, bind-mounted into each container — written like the kubelet writes them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from tugboat.node.runtime import runc_mounts
from tugboat.node.runtime.base import SandboxConfig

NETNS_DIR = "/run/netns"
SHM_SIZE = 64 * 1024 * 1024


class SandboxError(RuntimeError):
    pass


def hosts_file(config: SandboxConfig, ip: str) -> str:
    if config.host_network:
        try:
            with open("/etc/hosts") as f:
                return f.read()
        except OSError:
            pass
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
    spec = config.pod.get("spec") or {}
    hostname = config.hostname or config.name
    if ip and not config.host_network:
        subdomain = spec.get("subdomain") or ""
        searches = (config.dns or {}).get("searches") or []
        if subdomain and searches:
            lines.append(f"{ip}\t{hostname}.{subdomain}.{searches[0]}\t{hostname}")
        else:
            lines.append(f"{ip}\t{hostname}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        for a in aliases:
            lines.append(f"{a.get('ip', '')}\t" + "\t".join(a.get("hostnames") or []))
    return "\n".join(lines) + "\n"


def resolv_conf(dns: dict[str, Any]) -> str:
    if not dns or not (dns.get("servers") or dns.get("searches") or dns.get("options")):
        try:
            with open("/etc/resolv.conf") as f:
                return f.read()
        except OSError:
            return ""
    lines = [f"nameserver {s}" for s in dns.get("servers") or []]
    if dns.get("searches"):
        lines.append("search " + " ".join(dns["searches"]))
    if dns.get("options"):
        lines.append("options " + " ".join(dns["options"]))
    return "\n".join(lines) + "\n"


def write_files(sandbox_dir: str, config: SandboxConfig, ip: str) -> None:
    hostname = (os.uname().nodename if config.host_network else (config.hostname or config.name))
    for name, content in (("hosts", hosts_file(config, ip)), ("resolv.conf", resolv_conf(config.dns)),
                          ("hostname", hostname + "\n")):
        path = os.path.join(sandbox_dir, name)
        with open(path + ".tmp", "w") as f:
            f.write(content)
        os.chmod(path + ".tmp", 0o644)
        os.replace(path + ".tmp", path)


async def create_namespaces(netns: str, ipc: str, uts: str, hostname: str) -> None:
    """Create the persistent namespaces ("" = share the host's) in one unshare call."""
    args = []
    for flag, path in (("--net", netns), ("--ipc", ipc), ("--uts", uts)):
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
            args.append(f"{flag}={path}")
    if not args:
        return
    cmd = ["unshare", *args]
    cmd += ["hostname", hostname] if uts else ["true"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        remove_namespaces(netns, ipc, uts)
        raise SandboxError(f"creating pod namespaces failed: {err.decode().strip()}")


def remove_namespaces(*paths: str) -> None:
    for path in paths:
        if not path:
            continue
        runc_mounts.unmount(path)
        try:
            os.unlink(path)
        except (FileNotFoundError, IsADirectoryError):
            pass


def mount_shm(sandbox_dir: str, host_ipc: bool) -> str:
    shm = os.path.join(sandbox_dir, "shm")
    fresh = not os.path.isdir(shm)
    os.makedirs(shm, exist_ok=True)
    if fresh or not runc_mounts.is_mounted(shm):
        if host_ipc:
            runc_mounts.mount("/dev/shm", shm, "", runc_mounts.MS_BIND | runc_mounts.MS_REC)
        else:
            runc_mounts.mount("shm", shm, "tmpfs", runc_mounts.MS_NOSUID | runc_mounts.MS_NODEV | runc_mounts.MS_NOEXEC,
                              f"mode=1777,size={SHM_SIZE}")
    return shm


def remove_dir(sandbox_dir: str) -> None:
    runc_mounts.unmount(os.path.join(sandbox_dir, "shm"))
    shutil.rmtree(sandbox_dir, ignore_errors=True)
