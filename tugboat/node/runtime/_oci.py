"""Build the OCI runtime spec (config.json) runc runs a Kubernetes container from.

The defaults are containerd's CRI defaults (capabilities, masked/read-only /proc paths,
mounts, RLIMIT_NOFILE), the resource conversion is the kubelet's (cpu shares from the
request, CFS quota from the limit over a 100 ms period, memory limit, pids limit), and the
image config (ENTRYPOINT/CMD, Env, WorkingDir, User) is merged the way containerd merges it
under the CRI. Pod-level sharing: the network, IPC and UTS namespaces are *joined by path*
(bind-mounted namespace files created with the sandbox), so no pause process is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tugboat.node.images.base import ImageConfig
from tugboat.node.runtime._oci_seccomp import runtime_default_profile
from tugboat.node.runtime.base import ContainerConfig, SandboxConfig

# containerd's default capability set for CRI containers
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
ALL_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
            "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD = 100_000  # µs, the kubelet's CFS period
MIN_SHARES, MAX_SHARES, MIN_QUOTA = 2, 262144, 1000


class SpecError(ValueError):
    """The container cannot be built as asked (bad workingDir, unknown user …)."""


@dataclass
class SandboxPaths:
    netns: str  # "" = host network
    ipc: str  # "" = host IPC
    uts: str  # "" = host UTS
    hosts: str
    resolv: str
    hostname: str
    shm: str
    host_pid: bool = False


def milli_to_shares(milli: int) -> int:
    if milli <= 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * 1024 // 1000))


def milli_to_quota(milli: int) -> int:
    return max(MIN_QUOTA, milli * CPU_PERIOD // 1000)


def check_working_dir(cwd: str) -> str:
    """Refuse working dirs that could reach the host through runc's own fds (CVE-2024-21626)."""
    norm = os.path.normpath(cwd or "/")
    if not norm.startswith("/"):
        raise SpecError(f"workingDir {cwd!r} must be an absolute path")
    for bad in ("/proc/self/fd", "/proc/thread-self/fd"):
        if norm == bad or norm.startswith(bad + "/"):
            raise SpecError(f"workingDir {cwd!r} is not allowed (it would reach the host)")
    if norm.startswith("/proc/") and "/fd" in norm:
        raise SpecError(f"workingDir {cwd!r} is not allowed (it would reach the host)")
    return norm


def process_args(config: ContainerConfig, image: ImageConfig) -> list[str]:
    command, args = list(config.command), list(config.args)
    if not command:
        if not args:
            args = list(image.cmd)
        command = list(image.entrypoint)
    argv = command + args
    if not argv:
        raise SpecError("no command specified")
    return argv


def process_env(config: ContainerConfig, image: ImageConfig, hostname: str) -> list[str]:
    env: dict[str, str] = {}
    for item in image.env:
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    if hostname:
        env["HOSTNAME"] = hostname
    env.update(config.env)
    return [f"{k}={v}" for k, v in env.items()]


def capabilities(sc: dict[str, Any], privileged: bool) -> list[str]:
    if privileged:
        return list(ALL_CAPS)
    caps = list(DEFAULT_CAPS)
    spec = sc.get("capabilities") or {}
    norm = [c if c.startswith("CAP_") else "CAP_" + c for c in (spec.get("add") or [])]
    if "CAP_ALL" in norm:
        caps = list(ALL_CAPS)
    else:
        caps += [c for c in norm if c not in caps]
    drop = [c if c.startswith("CAP_") else "CAP_" + c for c in (spec.get("drop") or [])]
    if "CAP_ALL" in drop:
        return [c for c in caps if c in norm and c != "CAP_ALL"]
    return [c for c in caps if c not in drop]


def resources(config: ContainerConfig, pids_limit: int | None, memsw: bool) -> dict[str, Any]:
    cpu: dict[str, Any] = {"shares": milli_to_shares(config.cpu_request_milli)}
    if config.cpu_limit_milli:
        cpu["quota"] = milli_to_quota(config.cpu_limit_milli)
        cpu["period"] = CPU_PERIOD
    res: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}], "cpu": cpu}
    if config.memory_limit_bytes:
        mem: dict[str, Any] = {"limit": config.memory_limit_bytes}
        if memsw:
            mem["swap"] = config.memory_limit_bytes  # memory+swap == memory: no swapping past the limit
        res["memory"] = mem
    if pids_limit and pids_limit > 0:
        res["pids"] = {"limit": pids_limit}
    return res


def base_mounts(paths: SandboxPaths, ro_etc: bool) -> list[dict[str, Any]]:
    etc_opts = ["rbind", "rprivate", "ro" if ro_etc else "rw"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/dev/shm", "type": "bind", "source": paths.shm, "options": ["rbind", "rprivate", "rw"]},
        {"destination": "/etc/hosts", "type": "bind", "source": paths.hosts, "options": etc_opts},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": paths.resolv, "options": etc_opts},
        {"destination": "/etc/hostname", "type": "bind", "source": paths.hostname, "options": etc_opts},
    ]
    return mounts


def volume_mounts(config: ContainerConfig) -> list[dict[str, Any]]:
    out = []
    for m in config.mounts:
        prop = {"bidirectional": "rshared", "rshared": "rshared", "host_to_container": "rslave",
                "rslave": "rslave"}.get(m.propagation.lower(), "rprivate")
        opts = ["rbind", prop, "ro" if m.readonly else "rw"]
        out.append({"destination": m.container_path, "type": "bind", "source": m.host_path, "options": opts})
    return out


def namespaces(paths: SandboxPaths) -> list[dict[str, str]]:
    ns: list[dict[str, str]] = [{"type": "mount"}]
    if not paths.host_pid:
        ns.append({"type": "pid"})
    if paths.ipc:
        ns.append({"type": "ipc", "path": paths.ipc})
    if paths.uts:
        ns.append({"type": "uts", "path": paths.uts})
    if paths.netns:
        ns.append({"type": "network", "path": paths.netns})
    return ns


def seccomp_wanted(config: ContainerConfig, sandbox: SandboxConfig) -> bool:
    prof = (config.security_context.get("seccompProfile")
            or ((sandbox.pod.get("spec") or {}).get("securityContext") or {}).get("seccompProfile") or {})
    return prof.get("type") == "RuntimeDefault"


def build_spec(*, config: ContainerConfig, sandbox: SandboxConfig, image: ImageConfig, rootfs: str,
               paths: SandboxPaths, user: tuple[int, int, list[int]], cgroups_path: str,
               pids_limit: int | None = None, memsw: bool = False) -> dict[str, Any]:
    sc = config.security_context
    privileged = bool(sc.get("privileged"))
    caps = capabilities(sc, privileged)
    uid, gid, groups = user
    ro_root = bool(sc.get("readOnlyRootFilesystem"))
    process: dict[str, Any] = {
        "terminal": bool(config.tty),
        "user": {"uid": uid, "gid": gid, "additionalGids": groups},
        "args": process_args(config, image),
        "env": process_env(config, image, sandbox.hostname or sandbox.name),
        "cwd": check_working_dir(config.working_dir or image.working_dir or "/"),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": sc.get("allowPrivilegeEscalation") is False and not privileged,
    }
    linux: dict[str, Any] = {
        "resources": resources(config, pids_limit, memsw),
        "cgroupsPath": cgroups_path,
        "namespaces": namespaces(paths),
    }
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if seccomp_wanted(config, sandbox):
            linux["seccomp"] = runtime_default_profile("CAP_SYS_ADMIN" in caps)
    mounts = base_mounts(paths, ro_root) + volume_mounts(config)
    if privileged:
        for m in mounts:
            if m["type"] in ("sysfs", "cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": rootfs, "readonly": ro_root},
        "mounts": mounts,
        "linux": linux,
        "annotations": {"io.kubernetes.container.name": config.name,
                        "io.kubernetes.pod.name": sandbox.name,
                        "io.kubernetes.pod.namespace": sandbox.namespace,
                        "io.kubernetes.pod.uid": sandbox.pod_uid},
    }
