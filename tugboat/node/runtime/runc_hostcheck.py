"""List what a runc runtime + pod network left on the host (tests, benchmarks, debugging).

"Deleting a pod leaves nothing behind" is checked against the host itself, not our records:
namespace files, veths on the bridge, the bridge, iptables chains, mounts under the
runtime's directories, cgroups, runc containers and shim processes.
"""

from __future__ import annotations

import os
import subprocess

from tugboat.node.runtime import _cgroups


def leftovers(*, dirs: list[str], sandbox_ids: list[str], bridge: str, network_name: str, cgroup_root: str,
              runc_root: str, runc: str = "/usr/sbin/runc") -> list[str]:
    out: list[str] = []
    if os.path.isdir("/run/netns"):
        out += [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith("tug-") and n[4:] in sandbox_ids]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name == bridge or f"master {bridge} " in line:
            out.append(f"link {name}")
    for table in ("nat", "filter"):
        rules = subprocess.run(["iptables", "-w", "5", "-t", table, "-S"], capture_output=True, text=True).stdout
        out += [f"iptables {table}: {r}" for r in rules.splitlines()
                if bridge in r or f'name: \\"{network_name}\\"' in r or f'name: "{network_name}"' in r]
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4]
            if any(mnt == d or mnt.startswith(d.rstrip("/") + "/") for d in dirs):
                out.append(f"mount {mnt}")
    for d in _cgroups.all_dirs("/" + cgroup_root):
        if os.path.isdir(d):
            out += [f"cgroup {os.path.join(d, c)}" for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
    if os.path.isdir(runc_root):
        listed = subprocess.run([runc, "--root", runc_root, "list", "-q"], capture_output=True, text=True).stdout
        out += [f"runc container {c}" for c in listed.split()]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("runc_shim.py" in cmd or "tug-shim" in cmd) and any(d in cmd for d in dirs):
            out.append(f"process {pid} {cmd[:120]}")
    return out
