"""What the host is: capacity, addresses and node info for a real node's Node object.

Everything is read from the kernel's own files (/proc/meminfo, /sys/kernel/mm/hugepages,
/etc/os-release, /dev/nvidia*) rather than guessed, because the scheduler places pods by these
numbers. Simulated nodes never call this: their capacity comes from options.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import socket
from typing import Any

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def architecture() -> str:
    m = platform.machine()
    return _GOARCH.get(m, m)


def memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def hugepages() -> dict[str, str]:
    out: dict[str, str] = {}
    for d in glob.glob("/sys/kernel/mm/hugepages/hugepages-*kB"):
        m = re.search(r"hugepages-(\d+)kB$", d)
        if not m:
            continue
        try:
            with open(os.path.join(d, "nr_hugepages")) as f:
                n = int(f.read().strip() or 0)
        except (OSError, ValueError):
            n = 0
        size_kb = int(m.group(1))
        name = f"hugepages-{size_kb // 1024}Mi" if size_kb % 1024 == 0 else f"hugepages-{size_kb}Ki"
        if size_kb % (1024 * 1024) == 0:
            name = f"hugepages-{size_kb // (1024 * 1024)}Gi"
        out[name] = str(n * size_kb * 1024)
    return out


def gpu_count() -> int:
    return len([p for p in glob.glob("/dev/nvidia*") if re.fullmatch(r"/dev/nvidia\d+", p)])


def os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def internal_ip() -> str:
    """The source address the host would use to reach the outside (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def host_capacity(data_dir: str) -> dict[str, str]:
    cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{memory_bytes() // 1024}Ki", "pods": "110"}
    try:
        cap["ephemeral-storage"] = f"{shutil.disk_usage(data_dir).total // 1024}Ki"
    except OSError:
        pass
    cap.update(hugepages())
    gpus = gpu_count()
    if gpus:
        cap["nvidia.com/gpu"] = str(gpus)
    return cap


def host_node_info() -> dict[str, Any]:
    u = platform.uname()
    machine_id = ""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(p) as f:
                machine_id = f.read().strip()
                break
        except OSError:
            continue
    boot_id = ""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        pass
    return {"machineID": machine_id, "systemUUID": machine_id, "bootID": boot_id, "kernelVersion": u.release,
            "osImage": os_image(), "operatingSystem": "linux", "architecture": architecture()}
