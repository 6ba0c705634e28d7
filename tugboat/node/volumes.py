"""Pod volumes → host directories, and volumeMounts → runtime Mounts.

Layout follows the kubelet: `<data_dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`.
emptyDir is a directory (a size-limited tmpfs for `medium: Memory` when we run as root);
hostPath is used in place (with its `type` checked); configMap, secret, downwardAPI and
projected volumes are written with the atomic writer and refreshed on every pod sync, so
updates reach running containers; persistentVolumeClaim resolves to the bound PV's hostPath
or local path. With `materialize=False` (simulated nodes) nothing is written, but the
referenced objects are still checked so a missing ConfigMap blocks the pod as it would for
real (`FailedMount`).
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
from typing import Any

from tugboat.node.atomic_writer import write_atomic
from tugboat.node.envvars import ConfigError, Getter, expand, field_value, resource_value
from tugboat.node.runtime.base import Mount
from tugboat.node.subpath import bind_subpath, resolve_subpath, unmount_subpaths

log = logging.getLogger(__name__)

_PLUGIN = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
           "projected": "projected"}


class MountError(ConfigError):
    """A volume could not be set up (FailedMount)."""


def _items(data: dict[str, bytes], items: list[dict[str, Any]] | None, mode: int, what: str,
           optional: bool) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out = {}
    for it in items:
        key = it.get("key", "")
        if key not in data:
            if optional:
                continue
            raise MountError(f"configmap references non-existent config key: {key}" if what == "ConfigMap"
                             else f"references non-existent secret key: {key}")
        out[it.get("path") or key] = (data[key], _mode(it, mode))
    return out


def _obj_data(obj: dict[str, Any], kind: str) -> dict[str, bytes]:
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


class VolumeManager:
    def __init__(self, data_dir: str, *, materialize: bool = True, allocatable: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.materialize = materialize
        self.allocatable = allocatable or {}
        self._set_up: set[str] = set()  # pods whose volumes were set up (a claim being deleted stays theirs)
        self.tokens: Any = None  # sa_token.TokenManager: projected serviceAccountToken sources

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.data_dir, "pods", uid)

    async def _ref(self, get: Getter, kind: str, ns: str, src: dict[str, Any], vol: str,
                   default_mode: int) -> dict[str, tuple[bytes, int]] | None:
        name = src.get("name") or src.get("secretName") or ""
        obj = await get(kind, ns, name)
        optional = bool(src.get("optional"))
        if obj is None:
            if optional:
                return {}
            raise MountError(f'MountVolume.SetUp failed for volume "{vol}" : {kind.lower()} "{name}" not found')
        return _items(_obj_data(obj, kind), src.get("items"), default_mode, kind, optional)

    def _downward(self, pod: dict[str, Any], items: list[dict[str, Any]], mode: int) -> dict[str, tuple[bytes, int]]:
        out = {}
        containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
        for it in items:
            m = _mode(it, mode)
            if it.get("fieldRef"):
                val = field_value(pod, it["fieldRef"].get("fieldPath", ""))
            else:
                ref = it.get("resourceFieldRef") or {}
                c = containers.get(ref.get("containerName")) or {}
                val = resource_value(c, ref, self.allocatable)
            out[it.get("path", "")] = (val.encode(), m)
        return out

    async def _files(self, pod: dict[str, Any], vol: dict[str, Any], get: Getter) -> dict[str, tuple[bytes, int]]:
        ns = pod["metadata"].get("namespace", "")
        name = vol.get("name", "")
        if "configMap" in vol:
            src = vol["configMap"]
            return await self._ref(get, "ConfigMap", ns, src, name, int(src.get("defaultMode", 0o644))) or {}
        if "secret" in vol:
            src = vol["secret"]
            return await self._ref(get, "Secret", ns, src, name, int(src.get("defaultMode", 0o644))) or {}
        if "downwardAPI" in vol:
            src = vol["downwardAPI"]
            return self._downward(pod, src.get("items") or [], int(src.get("defaultMode", 0o644)))
        src = vol["projected"]
        mode = int(src.get("defaultMode", 0o644))
        files: dict[str, tuple[bytes, int]] = {}
        for s in src.get("sources") or []:
            if "configMap" in s:
                files.update(await self._ref(get, "ConfigMap", ns, s["configMap"], name, mode) or {})
            elif "secret" in s:
                files.update(await self._ref(get, "Secret", ns, s["secret"], name, mode) or {})
            elif "downwardAPI" in s:
                files.update(self._downward(pod, s["downwardAPI"].get("items") or [], mode))
            elif "serviceAccountToken" in s and self.tokens is not None:  # sa_token.py: bound, cached
                files[s["serviceAccountToken"].get("path", "token")] = (
                    await self.tokens.token(pod, s["serviceAccountToken"]), mode)
            elif "serviceAccountToken" in s:
                tok = await get("ServiceAccountToken", ns, (pod.get("spec") or {}).get("serviceAccountName") or "default")
                files[s["serviceAccountToken"].get("path", "token")] = (str((tok or {}).get("token", "")).encode(), mode)
        return files

    async def setup(self, pod: dict[str, Any], get: Getter) -> dict[str, str]:
        """Set up every volume of the pod; returns {volume name: host path}."""
        uid = pod["metadata"]["uid"]
        ns = pod["metadata"].get("namespace", "")
        base = os.path.join(self.pod_dir(uid), "volumes")
        paths: dict[str, str] = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            name = vol.get("name", "")
            plugin = next((p for p in _PLUGIN if p in vol), None)
            if plugin is not None:
                path = os.path.join(base, f"kubernetes.io~{_PLUGIN[plugin]}", name)
                if plugin == "emptyDir":
                    if self.materialize:
                        self._empty_dir(path, vol["emptyDir"] or {})
                else:
                    files = await self._files(pod, vol, get)
                    if self.materialize:
                        write_atomic(path, files)
                paths[name] = path
            elif "hostPath" in vol:
                paths[name] = self._host_path(vol["hostPath"], name)
            elif "persistentVolumeClaim" in vol:
                paths[name] = await self._pvc(ns, vol["persistentVolumeClaim"].get("claimName", ""), name, get,
                                              first=uid not in self._set_up)
            elif "ephemeral" in vol:  # generic ephemeral volume: the claim `<pod>-<volume>` the pod owns
                paths[name] = await self._pvc(ns, f"{pod['metadata'].get('name', '')}-{name}", name, get, owner=uid,
                                              first=uid not in self._set_up)
            else:
                kinds = sorted(k for k in vol if k != "name")
                raise MountError(f'MountVolume.SetUp failed for volume "{name}" : unsupported volume type {kinds}')
        self._set_up.add(uid)
        return paths

    def _empty_dir(self, path: str, spec: dict[str, Any]) -> None:
        if os.path.isdir(path):
            return
        os.makedirs(path, mode=0o777, exist_ok=True)
        os.chmod(path, 0o777)
        if spec.get("medium") == "Memory" and os.geteuid() == 0:
            opts = "mode=1777"
            if spec.get("sizeLimit"):
                from tugboat.api.quantity import parse_quantity
                opts += f",size={int(parse_quantity(spec['sizeLimit']))}"
            subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True, capture_output=True)

    def _host_path(self, spec: dict[str, Any], name: str) -> str:
        path = spec.get("path", "")
        typ = spec.get("type") or ""
        if not self.materialize:
            return path
        if typ == "DirectoryOrCreate":
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif typ == "FileOrCreate" and not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            open(path, "a").close()
        checks = {"Directory": os.path.isdir, "File": os.path.isfile, "Socket": _is_socket,
                  "CharDevice": _is_char, "BlockDevice": _is_block}
        if typ in checks and not checks[typ](path):
            raise MountError(f'MountVolume.SetUp failed for volume "{name}" : hostPath type check failed: '
                             f"{path} is not a {typ.lower()}")
        return path

    async def _pvc(self, ns: str, claim: str, vol: str, get: Getter, owner: str = "", first: bool = True) -> str:
        pvc = await get("PersistentVolumeClaim", ns, claim)
        if pvc is None:
            raise MountError(f'persistentvolumeclaim "{claim}" not found')
        if (pvc.get("metadata") or {}).get("deletionTimestamp") and first:  # protection waits for mounted users only
            raise MountError(f'persistentvolumeclaim "{claim}" is being deleted')
        if owner and not any(r.get("uid") == owner and r.get("controller")
                             for r in (pvc.get("metadata") or {}).get("ownerReferences") or ()):
            raise MountError(f"PVC {ns}/{claim} was not created for pod (pod is not owner)")
        pv_name = (pvc.get("spec") or {}).get("volumeName")
        if not pv_name or (pvc.get("status") or {}).get("phase") not in (None, "Bound"):
            raise MountError(f'persistentvolumeclaim "{claim}" is not bound')
        pv = await get("PersistentVolume", "", pv_name)
        spec = (pv or {}).get("spec") or {}
        if (spec.get("hostPath") or {}).get("path"):  # DirectoryOrCreate (local-path) makes the directory
            return self._host_path(spec["hostPath"], vol)
        path = (spec.get("local") or {}).get("path")
        if not path:
            raise MountError(f'MountVolume.SetUp failed for volume "{vol}" : persistent volume {pv_name} '
                             "has no hostPath or local path this node can mount")
        return str(path)

    def mounts(self, container: dict[str, Any], paths: dict[str, str], env: dict[str, str],
               pod_uid: str = "") -> list[Mount]:
        """The container's mounts. A subPath (with `pod_uid`) is bind-mounted from an open fd onto
        <pod dir>/volume-subpaths/<volume>/<container>/<index>, as the kubelet does (subpath.py)."""
        out = []
        for index, vm in enumerate(container.get("volumeMounts") or []):
            root = paths.get(vm.get("name", ""))
            if root is None:
                raise ConfigError(f"cannot find volume \"{vm.get('name')}\" to mount into container "
                                  f"\"{container.get('name')}\"")
            sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
            if sub and self.materialize and pod_uid:
                host = bind_subpath(root, sub, os.path.join(self.pod_dir(pod_uid), "volume-subpaths", vm.get("name", ""),
                                                            container.get("name", ""), str(index)))
            elif sub and self.materialize:
                host = resolve_subpath(root, sub)
            else:
                host = os.path.join(root, sub) if sub else root
            prop = {"Bidirectional": "rshared", "HostToContainer": "rslave"}.get(vm.get("mountPropagation", ""),
                                                                                 "private")
            out.append(Mount(vm.get("mountPath", ""), host, bool(vm.get("readOnly")), prop))
        return out

    def teardown(self, uid: str) -> None:
        self._set_up.discard(uid)
        if self.tokens is not None:
            self.tokens.forget_pod(uid)
        d = self.pod_dir(uid)
        if not self.materialize or not os.path.isdir(d):
            return
        if not unmount_subpaths(os.path.join(d, "volume-subpaths")):  # never delete through a bind mount
            log.warning("pod %s: subPath mounts could not be unmounted; keeping %s", uid, d)
            return
        ed = os.path.join(d, "volumes", "kubernetes.io~empty-dir")
        if os.path.isdir(ed):
            for name in os.listdir(ed):
                p = os.path.join(ed, name)
                if os.path.ismount(p):
                    subprocess.run(["umount", p], check=False, capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def _is_socket(p: str) -> bool:
    import stat
    return os.path.exists(p) and stat.S_ISSOCK(os.stat(p).st_mode)


def _is_char(p: str) -> bool:
    import stat
    return os.path.exists(p) and stat.S_ISCHR(os.stat(p).st_mode)


def _is_block(p: str) -> bool:
    import stat
    return os.path.exists(p) and stat.S_ISBLK(os.stat(p).st_mode)


def _mode(item: dict[str, Any], default: int) -> int:
    m = item.get("mode")
    return int(m) if m is not None else default
