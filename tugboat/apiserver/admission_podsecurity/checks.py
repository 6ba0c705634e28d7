"""The Pod Security Standards checks (v1.32), one function per upstream check.

Why one function each, in upstream's order: the refusal message lists the failed checks in the
order upstream evaluates them (its policy/check_*.go files, alphabetical: baseline checks, then
restricted ones), and users and tools match on it. Each check returns None (allowed) or
(forbidden reason, forbidden detail) with upstream's exact words; `evaluate` runs the checks of
a level. Windows pods skip the Linux-only restricted checks, as upstream since 1.25.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Obj = dict[str, Any]
Result = tuple[str, str] | None
Check = Callable[[Obj, Obj], Result]

CAPS_BASELINE = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                           "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                          "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                          "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret")
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_POD_ANN = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANN = "container.seccomp.security.alpha.kubernetes.io/"


def join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def plural(singular: str, many: str, n: int) -> str:
    return singular if n == 1 else many


def containers(spec: Obj) -> Iterator[Obj]:
    """Init containers, containers, then ephemeral containers (upstream visitContainers)."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                yield c


def _sc(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _named(kind: str, names: list[str]) -> str:
    return f"{plural(kind, kind + 's', len(names))} {join_quote(names)}"


def _windows(spec: Obj) -> bool:
    return ((spec.get("os") or {}).get("name") or "") == "windows"


# ---- baseline ---------------------------------------------------------------------------
def app_armor(meta: Obj, spec: Obj) -> Result:
    bad: list[str] = []
    for k, v in (meta.get("annotations") or {}).items():
        if k.startswith(APPARMOR_PREFIX) and v and v != "runtime/default" and not v.startswith("localhost/"):
            bad.append(f'{k}="{v}"')
    if (_sc(spec).get("appArmorProfile") or {}).get("type") == "Unconfined":
        bad.append('securityContext.appArmorProfile.type="Unconfined"')
    for c in containers(spec):
        if (_sc(c).get("appArmorProfile") or {}).get("type") == "Unconfined":
            bad.append(f'containers[{c.get("name", "")}].securityContext.appArmorProfile.type="Unconfined"')
    if bad:
        bad.sort()
        return plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)), ", ".join(bad)
    return None


def capabilities_baseline(meta: Obj, spec: Obj) -> Result:
    bad: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        added = [str(x) for x in ((_sc(c).get("capabilities") or {}).get("add") or [])]
        extra = [x for x in added if x not in CAPS_BASELINE]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if bad:
        return "non-default capabilities", (f"{_named('container', bad)} must not include "
                                            f"{join_quote(sorted(caps))} in securityContext.capabilities.add")
    return None


def host_namespaces(meta: Obj, spec: Obj) -> Result:
    used = [f"{k}=true" for k in ("hostIPC", "hostNetwork", "hostPID") if spec.get(k) is True]
    return ("host namespaces", ", ".join(used)) if used else None


def host_path_volumes(meta: Obj, spec: Obj) -> Result:
    names = [v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    return ("hostPath volumes", _named("volume", names)) if names else None


def host_ports(meta: Obj, spec: Obj) -> Result:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        hp = [str(p.get("hostPort")) for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if hp:
            bad.append(c.get("name", ""))
            ports.update(hp)
    if bad:
        return "hostPort", (f"{_named('container', bad)} {plural('uses', 'use', len(bad))} "
                            f"{plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")
    return None


def host_process(meta: Obj, spec: Obj) -> Result:
    setters: list[str] = []
    if (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True:
        setters.append("pod")
    bad = [c.get("name", "") for c in containers(spec)
           if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True]
    if bad:
        setters.append(_named("container", bad))
    if setters:
        return "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"
    return None


def privileged(meta: Obj, spec: Obj) -> Result:
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("privileged") is True]
    return ("privileged", f"{_named('container', bad)} must not set securityContext.privileged=true") if bad else None


def proc_mount(meta: Obj, spec: Obj) -> Result:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in containers(spec):
        pm = _sc(c).get("procMount")
        if pm is not None and pm != "Default":
            bad.append(c.get("name", ""))
            kinds.add(str(pm))
    if bad:
        return "procMount", f"{_named('container', bad)} must not set securityContext.procMount to " \
                            f"{join_quote(sorted(kinds))}"
    return None


def se_linux(meta: Obj, spec: Obj) -> Result:
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Any) -> bool:
        if not isinstance(opts, dict):
            return True
        ok = True
        if (opts.get("type") or "") not in SELINUX_TYPES:
            ok = False
            bad_types.add(opts.get("type") or "")
        for f in ("user", "role"):
            if opts.get(f):
                ok, flags[f] = False, True
        return ok
    setters = [] if valid(_sc(spec).get("seLinuxOptions")) else ["pod"]
    bad = [c.get("name", "") for c in containers(spec) if not valid(_sc(c).get("seLinuxOptions"))]
    if bad:
        setters.append(_named("container", bad))
    if not setters:
        return None
    data: list[str] = []
    if bad_types:  # upstream only mentions user/role when a type is also bad
        data.append(f"{plural('type', 'types', len(bad_types))} {join_quote(sorted(bad_types))}")
        data += [f"{f} may not be set" for f in ("user", "role") if flags[f]]
    return "seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"


def _valid_seccomp(t: Any) -> bool:
    return t in ("Localhost", "RuntimeDefault")


def seccomp_baseline(meta: Obj, spec: Obj) -> Result:
    setters: list[str] = []
    values: set[str] = set()
    prof = _sc(spec).get("seccompProfile")
    if isinstance(prof, dict) and not _valid_seccomp(prof.get("type")):
        setters.append("pod")
        values.add(str(prof.get("type") or ""))
    bad: list[str] = []
    for c in containers(spec):
        cp = _sc(c).get("seccompProfile")
        if isinstance(cp, dict) and not _valid_seccomp(cp.get("type")):
            bad.append(c.get("name", ""))
            values.add(str(cp.get("type") or ""))
    if bad:
        setters.append(_named("container", bad))
    if setters:
        return "seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to " \
                                 f"{join_quote(sorted(values))}"
    return None


def sysctls(meta: Obj, spec: Obj) -> Result:
    bad = [str(s.get("name")) for s in _sc(spec).get("sysctls") or []
           if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None
