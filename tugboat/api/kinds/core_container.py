"""Containers: defaults and validation (upstream `SetDefaults_Container`, `validateContainers`).

Shared by Pods and by every pod template (Deployments, Jobs, …). The defaults are what kubectl
shows back (`imagePullPolicy`, `terminationMessagePath`, port `protocol`, probe timings) and
what the node agent relies on; validation refuses what a node could not run.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FieldError, duplicate, forbidden, invalid, not_supported, required
from .core_common import (
    as_dict,
    as_list,
    config_key_errors,
    env_var_name_errors,
    is_int,
    not_found,
    port_name_errors,
    port_num_errors,
    validate_dns_label,
    validate_enum,
    validate_nonnegative,
    validate_port_num_or_name,
    validate_resource_requirements,
)
from .core_volumes import validate_relative_path

Obj = dict[str, Any]

PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
MOUNT_PROPAGATION = ["None", "HostToContainer", "Bidirectional"]
ENV_FIELD_PATHS = [
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
]
RESOURCE_FIELD_REFS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                       "requests.ephemeral-storage", "requests.memory"]
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


# ---- defaults ------------------------------------------------------------------------------

def image_tag(image: str) -> str:
    """The tag an image reference resolves to: 'latest' when it has neither tag nor digest,
    '' when it has only a digest or cannot be parsed (upstream parsers.ParseImageName)."""
    if not image or image != image.strip():
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    repo = name[: len(name) - len(tag) - 1] if tag else name
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host may be upper case; repository paths may not
    if not all(parts) or any(x != x.lower() for x in parts):
        return ""
    if tag:
        return tag
    return "" if digest else "latest"


def default_container(c: Obj, for_pod: bool = False) -> None:
    """Fill a container's defaults. `for_pod` adds the Pod-only ones (requests ← limits)."""
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if image_tag(str(c.get("image") or "")) == "latest" else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in as_list(c.get("ports")):
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in as_list(c.get("env")):
        ref = as_dict(as_dict(as_dict(env).get("valueFrom")).get("fieldRef"))
        if ref and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"
    for probe in _PROBES:
        if isinstance(c.get(probe), dict):
            default_probe(c[probe])
    lifecycle = as_dict(c.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        _default_http_get(as_dict(lifecycle.get(hook)).get("httpGet"))
    if for_pod:
        res = c.get("resources")
        if isinstance(res, dict) and isinstance(res.get("limits"), dict) and res["limits"]:
            requests = res.get("requests")
            if not isinstance(requests, dict):
                requests = res["requests"] = {}
            for name, value in res["limits"].items():
                requests.setdefault(name, value)


def default_probe(p: Obj) -> None:
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    _default_http_get(p.get("httpGet"))


def _default_http_get(h: Any) -> None:
    if isinstance(h, dict):
        if not h.get("path"):
            h["path"] = "/"
        h.setdefault("scheme", "HTTP")


# ---- validation ----------------------------------------------------------------------------

def validate_container_list(containers: Any, path: str, volumes: dict[str, Obj], names: set[str],
                            kind: str = "containers", grace: int | None = None) -> list[FieldError]:
    """Validate `spec.containers` / `spec.initContainers` / `spec.ephemeralContainers`.
    `names` collects container names across the lists (they share one namespace)."""
    if containers is None:
        return []
    if not isinstance(containers, list):
        return [invalid(path, containers, "must be a list")]
    errs: list[FieldError] = []
    for i, c in enumerate(containers):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(invalid(p, c, "must be an object"))
            continue
        errs += validate_container(c, p, volumes, names, kind, grace)
    return errs


def validate_container(c: Obj, p: str, volumes: dict[str, Obj], names: set[str], kind: str,
                       grace: int | None) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name")
    if not name:
        errs.append(required(f"{p}.name"))
    else:
        errs += validate_dns_label(name, f"{p}.name")
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        names.add(name)
    image = c.get("image")
    if not image:
        if kind != "template-ephemeral":
            errs.append(required(f"{p}.image"))
    elif not isinstance(image, str):
        errs.append(invalid(f"{p}.image", image, "must be a string"))
    elif image != image.strip():
        errs.append(invalid(f"{p}.image", image, "must not have leading or trailing whitespace"))
    errs += validate_enum(c.get("imagePullPolicy"), f"{p}.imagePullPolicy", PULL_POLICIES)
    errs += validate_enum(c.get("terminationMessagePolicy"), f"{p}.terminationMessagePolicy",
                          TERMINATION_MESSAGE_POLICIES)
    wd = c.get("workingDir")
    if isinstance(wd, str) and wd:
        norm = "/" + "/".join(x for x in wd.split("/") if x and x != ".")
        if norm == "/proc/self/fd" or norm.startswith(("/proc/self/fd/", "/proc/thread-self/fd")):
            # CVE-2024-21626: a cwd on a leaked runtime fd escapes to the host filesystem.
            errs.append(invalid(f"{p}.workingDir", wd, "must not be under /proc/self/fd"))
    restart = c.get("restartPolicy")
    sidecar = False
    if restart is not None:
        if kind != "initContainers":
            errs.append(forbidden(f"{p}.restartPolicy", "may not be set for non-init containers"))
        elif restart != "Always":
            errs.append(not_supported(f"{p}.restartPolicy", restart, ["Always"]))
        else:
            sidecar = True
    errs += validate_ports(c.get("ports"), f"{p}.ports")
    if kind == "ephemeralContainers" and c.get("ports"):
        errs.append(forbidden(f"{p}.ports", "cannot be set for an Ephemeral Container"))
    errs += validate_env(c.get("env"), f"{p}.env")
    errs += validate_env_from(c.get("envFrom"), f"{p}.envFrom")
    errs += validate_mounts(c.get("volumeMounts"), f"{p}.volumeMounts", volumes)
    errs += validate_resource_requirements(c.get("resources"), f"{p}.resources")
    for probe in _PROBES:
        pr = c.get(probe)
        if pr is None:
            continue
        if (kind == "initContainers" and not sidecar) or kind == "ephemeralContainers":
            errs.append(forbidden(f"{p}.{probe}", "may not be set for init containers without restartPolicy=Always"
                                  if kind == "initContainers" else "cannot be set for an Ephemeral Container"))
            continue
        errs += validate_probe(pr, f"{p}.{probe}")
        if probe in ("livenessProbe", "startupProbe") and isinstance(pr, dict) and pr.get("successThreshold", 1) != 1:
            errs.append(invalid(f"{p}.{probe}.successThreshold", pr.get("successThreshold"), "must be 1"))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        if kind == "initContainers" and not sidecar:
            errs.append(forbidden(f"{p}.lifecycle", "may not be set for init containers without restartPolicy=Always"))
        for hook in ("postStart", "preStop"):
            if hook in lifecycle:
                errs += validate_handler(lifecycle[hook], f"{p}.lifecycle.{hook}", _LIFECYCLE_HANDLERS, grace)
    return errs


def validate_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        p = f"{path}[{i}]"
        port = as_dict(port)
        name = port.get("name")
        if name:
            msgs = port_name_errors(str(name))
            if msgs:
                errs += [invalid(f"{p}.name", name, m) for m in msgs]
            elif name in seen:
                errs.append(duplicate(f"{p}.name", name))
            else:
                seen.add(name)
        cp = port.get("containerPort")
        if not cp:
            errs.append(required(f"{p}.containerPort"))
        else:
            errs += [invalid(f"{p}.containerPort", cp, m) for m in port_num_errors(cp)]
        hp = port.get("hostPort")
        if hp:
            errs += [invalid(f"{p}.hostPort", hp, m) for m in port_num_errors(hp)]
        errs += validate_enum(port.get("protocol"), f"{p}.protocol", PROTOCOLS)
    return errs


def validate_env(env: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ev in enumerate(as_list(env)):
        p = f"{path}[{i}]"
        ev = as_dict(ev)
        name = ev.get("name")
        if not name:
            errs.append(required(f"{p}.name"))
        elif isinstance(name, str):
            errs += [invalid(f"{p}.name", name, m) for m in env_var_name_errors(name)]
        vf = ev.get("valueFrom")
        if vf is None:
            continue
        vf = as_dict(vf)
        vp = f"{p}.valueFrom"
        sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if vf.get(k) is not None]
        if not sources:
            errs.append(invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                                "`secretKeyRef`"))
        elif len(sources) > 1:
            errs.append(invalid(vp, "", "may not have more than one field specified at a time"))
        if ev.get("value"):
            errs.append(invalid(vp, "", "may not be specified when `value` is not empty"))
        fr = vf.get("fieldRef")
        if isinstance(fr, dict):
            fp = fr.get("fieldPath")
            if not fp:
                errs.append(required(f"{vp}.fieldRef.fieldPath"))
            elif fp not in ENV_FIELD_PATHS and not _LABEL_REF.match(str(fp)):
                errs.append(not_supported(f"{vp}.fieldRef.fieldPath", fp, ENV_FIELD_PATHS))
        rr = vf.get("resourceFieldRef")
        if isinstance(rr, dict):
            res = rr.get("resource")
            if not res:
                errs.append(required(f"{vp}.resourceFieldRef.resource"))
            elif res not in RESOURCE_FIELD_REFS and not str(res).startswith(("limits.hugepages-", "requests.hugepages-")):
                errs.append(not_supported(f"{vp}.resourceFieldRef.resource", res, RESOURCE_FIELD_REFS))
        for ref in ("configMapKeyRef", "secretKeyRef"):
            kr = vf.get(ref)
            if isinstance(kr, dict):
                if not kr.get("name"):
                    errs.append(required(f"{vp}.{ref}.name"))
                key = kr.get("key")
                if not key:
                    errs.append(required(f"{vp}.{ref}.key"))
                else:
                    errs += [invalid(f"{vp}.{ref}.key", key, m) for m in config_key_errors(str(key))]
    return errs


def validate_env_from(env_from: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ef in enumerate(as_list(env_from)):
        p = f"{path}[{i}]"
        ef = as_dict(ef)
        refs = [k for k in ("configMapRef", "secretRef") if ef.get(k) is not None]
        if not refs:
            errs.append(invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(refs) > 1:
            errs.append(invalid(p, "", "may not have more than one field specified at a time"))
        for r in refs:
            if not as_dict(ef[r]).get("name"):
                errs.append(required(f"{p}.{r}.name"))
    return errs


def validate_mounts(mounts: Any, path: str, volumes: dict[str, Obj]) -> list[FieldError]:
    errs: list[FieldError] = []
    paths: set[str] = set()
    for i, m in enumerate(as_list(mounts)):
        p = f"{path}[{i}]"
        m = as_dict(m)
        name = m.get("name")
        if not name:
            errs.append(required(f"{p}.name"))
        elif name not in volumes:
            errs.append(not_found(f"{p}.name", name))
        mp = m.get("mountPath")
        if not mp:
            errs.append(required(f"{p}.mountPath"))
        elif mp in paths:
            errs.append(invalid(f"{p}.mountPath", mp, "must be unique"))
        else:
            paths.add(mp)
        if m.get("subPath"):
            errs += validate_relative_path(m["subPath"], f"{p}.subPath")
            if m.get("subPathExpr"):
                errs.append(invalid(f"{p}.subPathExpr", m["subPathExpr"], "subPathExpr and subPath are mutually exclusive"))
        if m.get("mountPropagation") is not None:
            errs += validate_enum(m["mountPropagation"], f"{p}.mountPropagation", MOUNT_PROPAGATION)
    return errs


def validate_probe(probe: Any, path: str) -> list[FieldError]:
    if not isinstance(probe, dict):
        return [invalid(path, probe, "must be an object")]
    errs = validate_handler(probe, path, _PROBE_HANDLERS, None)
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += validate_nonnegative(probe.get(f), f"{path}.{f}")
    tg = probe.get("terminationGracePeriodSeconds")
    if tg is not None and (not is_int(tg) or tg <= 0):
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", tg, "must be greater than 0"))
    return errs


def validate_handler(h: Any, path: str, kinds: tuple[str, ...], grace: int | None) -> list[FieldError]:
    if not isinstance(h, dict):
        return [invalid(path, h, "must be an object")]
    present = [k for k in kinds if h.get(k) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    errs = [forbidden(f"{path}.{k}", "may not specify more than 1 handler type") for k in present[1:]]
    k = present[0]
    src = as_dict(h[k])
    sp = f"{path}.{k}"
    if k == "exec":
        if not src.get("command"):
            errs.append(required(f"{sp}.command"))
    elif k == "httpGet":
        if not src.get("path"):
            errs.append(required(f"{sp}.path"))
        errs += validate_port_num_or_name(src.get("port"), f"{sp}.port")
        if src.get("scheme") not in (None, "HTTP", "HTTPS"):
            errs.append(not_supported(f"{sp}.scheme", src.get("scheme"), ["HTTP", "HTTPS"]))
    elif k == "tcpSocket":
        errs += validate_port_num_or_name(src.get("port"), f"{sp}.port")
    elif k == "grpc":
        port = src.get("port")
        errs += [invalid(f"{sp}.port", port, m) for m in port_num_errors(port)]
    elif k == "sleep":
        secs = src.get("seconds")
        limit = 30 if grace is None else grace
        if not is_int(secs) or secs < 0 or secs > limit:
            errs.append(invalid(f"{sp}.seconds", secs,
                                f"must be non-negative and less than terminationGracePeriodSeconds ({limit})"))
    return errs
