"""seccompProfile RuntimeDefault as an OCI seccomp section.

Docker/containerd's default profile is an allow-list of ~350 syscalls; keeping a copy of it
in sync is costly. This is the equivalent *deny*-list: the syscalls that profile leaves
out (kernel modules, kexec, reboot, swap, clock setting, keyring, bpf/perf, ptrace-like
process_vm_*, namespace and mount manipulation unless the container holds CAP_SYS_ADMIN …)
fail with EPERM exactly as under the default profile; everything else is allowed. Known gap:
the default profile's argument filters (clone with namespace flags, personality values,
socket AF_VSOCK) are not reproduced — unshare/setns, the usual way in, are denied.
"""

from __future__ import annotations

import platform
from typing import Any

ARCHES = {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
          "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}

DENIED = [
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "move_pages",
    "nfsservctl", "open_by_handle_at", "perf_event_open", "process_vm_readv", "process_vm_writev",
    "query_module", "quotactl", "reboot", "request_key", "set_mempolicy", "settimeofday", "stime",
    "swapoff", "swapon", "sysfs", "_sysctl", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
    "name_to_handle_at", "syslog",
]
# allowed by the default profile only to holders of CAP_SYS_ADMIN
SYS_ADMIN_ONLY = ["mount", "umount", "umount2", "unshare", "setns", "pivot_root", "fsopen", "fsmount",
                  "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr", "sethostname",
                  "setdomainname", "lookup_dcookie"]


def runtime_default_profile(has_sys_admin: bool) -> dict[str, Any]:
    names = list(DENIED) + ([] if has_sys_admin else [n for n in SYS_ADMIN_ONLY if n not in DENIED])
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES.get(platform.machine(), []),
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
