"""Auto-deploy: DATA_DIR/server/manifests/*.yaml kept applied, k3s style.

Users of k3s drop manifests into a directory and the server applies them at start and when
they change; the built-in add-ons arrive the same way, so they are ordinary objects a user can
read (and switch off with `--disable` or a `NAME.yaml.skip` file). Here:

- every `*.yaml|*.yml|*.json` file (multi-document, `kind: List` too) is server-side applied
  with field manager `tug-deploy` (forced: the file is the source of truth) at start and
  whenever its content changes (the directory is polled: mtimes and sizes every 2 s);
- each applied object carries the annotation `deploy.tugboat.io/source: FILE`, and a state
  file (DATA_DIR/server/manifests.state.json) records which objects each file produced, so an
  object that leaves a file, or every object of a deleted file, is deleted from the cluster
  (k3s keeps this record in Addon objects; a file is enough for one server);
- a file that fails to parse or apply is reported and retried on the next change or poll,
  and its objects are never deleted because of the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

log = logging.getLogger("tug.deploy")

FIELD_MANAGER = "tug-deploy"
SOURCE_ANNOTATION = "deploy.tugboat.io/source"
SUFFIXES = (".yaml", ".yml", ".json")
# created before the objects that live in them / use them; deleted after
_FIRST = {"Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "ClusterRole": 2, "Role": 2}

ObjKey = tuple[str, str, str, str]  # apiVersion, kind, namespace ('' when cluster-scoped), name


def identity(key: ObjKey) -> tuple[str, str, str, str]:
    """The object a key names, whatever version it was applied as (group, kind, ns, name):
    moving a manifest from autoscaling/v1 to v2 must not delete the object."""
    api_version, kind, ns, name = key
    return (api_version.rpartition("/")[0], kind, ns, name)


def load_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a manifest file: YAML documents (or JSON), `kind: List` flattened,
    empty documents skipped. Raises ValueError for anything that is not an object."""
    out: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"not an object: {str(doc)[:60]!r}")
        items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else [doc]
        for obj in items or []:
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise ValueError("every object needs apiVersion and kind")
            if not (obj.get("metadata") or {}).get("name"):
                raise ValueError(f"a {obj['kind']} without metadata.name")
            out.append(obj)
    out.sort(key=lambda o: _FIRST.get(o["kind"], 9))
    return out


@dataclass
class FileState:
    digest: str
    objects: list[ObjKey] = field(default_factory=list)


class AutoDeploy:
    """Keep the manifests in `directory` applied through `client` (a tugboat Client)."""

    def __init__(self, client: Any, directory: Path, state_path: Path, *, interval: float = 2.0,
                 default_namespace: str = "default"):
        self.client = client
        self.dir = directory
        self.state_path = state_path
        self.interval = interval
        self.default_namespace = default_namespace
        self.state: dict[str, FileState] = self._load_state()
        self._seen: dict[str, tuple[int, int]] = {}  # name → (mtime_ns, size) last applied this run
        self._wake = asyncio.Event()
        self.errors: dict[str, str] = {}

    def _load_state(self) -> dict[str, FileState]:
        with contextlib.suppress(OSError, ValueError):
            raw = orjson.loads(self.state_path.read_bytes())
            return {n: FileState(s["digest"], [tuple(k) for k in s["objects"]])  # type: ignore[misc]
                    for n, s in raw.items()}
        return {}

    def _save_state(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({n: {"digest": s.digest, "objects": s.objects} for n, s in self.state.items()}))
        os.replace(tmp, self.state_path)

    def files(self) -> dict[str, Path]:
        if not self.dir.is_dir():
            return {}
        names = set(os.listdir(self.dir))
        return {n: self.dir / n for n in sorted(names)
                if n.endswith(SUFFIXES) and not n.startswith(".") and f"{n}.skip" not in names}

    def poke(self) -> None:
        """Sync now instead of at the next poll (after writing a file)."""
        self._wake.set()

    async def sync(self) -> bool:
        """One pass: apply changed files, delete what left them. True when every file applied."""
        ok = True
        files = self.files()
        for name, path in files.items():
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            if self._seen.get(name) == stamp and name not in self.errors:
                continue
            ok = await self._apply_file(name, path, stamp) and ok
        for name in [n for n in self.state if n not in files]:
            await self._delete_objects(self.state[name].objects, keep_for=name)
            del self.state[name]
            self._seen.pop(name, None)
            self.errors.pop(name, None)
            self._save_state()
            log.info("deploy: %s removed; its objects were deleted", name)
        return ok

    async def _apply_file(self, name: str, path: Path, stamp: tuple[int, int]) -> bool:
        keys: list[ObjKey] = []
        old = self.state.get(name)
        try:
            data = path.read_bytes()
            for obj in load_objects(data.decode()):
                keys.append(await self._apply(name, obj))
        except Exception as e:  # noqa: BLE001 - any failure: report, keep state, retry later
            msg = f"{type(e).__name__}: {e}"
            if self.errors.get(name) != msg:
                print(f"tug: manifest {path}: {msg}", flush=True)
            self.errors[name] = msg
            if keys:  # remember what did get applied, so deleting the file later deletes it too
                known = old.objects if old else []
                extra = [k for k in keys if identity(k) not in {identity(o) for o in known}]
                self.state[name] = FileState(old.digest if old else "", known + extra)
                self._save_state()
            return False
        self.errors.pop(name, None)
        if old is not None:
            new = {identity(k) for k in keys}
            await self._delete_objects([k for k in old.objects if identity(k) not in new], keep_for=name)
        self.state[name] = FileState(hashlib.sha256(data).hexdigest(), keys)
        self._seen[name] = stamp
        self._save_state()
        return True

    async def _apply(self, source: str, obj: dict[str, Any]) -> ObjKey:
        rt = await self.client.resource_for(obj["apiVersion"], obj["kind"])
        meta = dict(obj.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE_ANNOTATION: source}
        ns = ""
        if rt.namespaced:
            ns = meta.get("namespace") or self.default_namespace
            meta["namespace"] = ns
        body = {**obj, "metadata": meta}
        await self.client.patch(rt, meta["name"], body, ns or None, patch_type="apply",
                                field_manager=FIELD_MANAGER, force=True)
        return (obj["apiVersion"], obj["kind"], ns, meta["name"])

    async def _delete_objects(self, keys: list[ObjKey], keep_for: str) -> None:
        """Delete `keys` (left `keep_for`'s file) unless another file still defines them."""
        from tugboat.client import is_not_found

        elsewhere = {identity(k) for n, st in self.state.items() if n != keep_for for k in st.objects}
        keys = [k for k in keys if identity(k) not in elsewhere]
        for api_version, kind, ns, name in sorted(keys, key=lambda k: -_FIRST.get(k[1], 9)):
            try:
                rt = await self.client.resource_for(api_version, kind)
                await self.client.delete(rt, name, ns or None, propagation_policy="Background")
            except Exception as e:  # noqa: BLE001 - gone already, or its kind is gone
                if not is_not_found(e):
                    print(f"tug: deleting {kind} {ns + '/' if ns else ''}{name}: {e}", flush=True)

    async def run(self, stop: asyncio.Event) -> None:
        """sync() now and after every change until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - never let the deployer die
                log.exception("deploy: sync failed")
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()


# --- built-in add-ons ------------------------------------------------------------------------

DNS_ADDON = "dns.yaml"


def _write_if_changed(path: Path, text: str) -> bool:
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def write_dns_addon(directory: Path, cluster_ip: str, *, gateway: str = "", node_name: str = "") -> bool:
    """DATA_DIR/server/manifests/dns.yaml: the kube-dns Service and, once the DNS server's
    node address is known, its EndpointSlice and Endpoints. Not written when `dns.yaml.skip`
    exists (the user took the add-on over). True when the file changed."""
    from tugboat.dns.manifests import kube_dns_manifests

    if (directory / f"{DNS_ADDON}.skip").exists():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    objs = kube_dns_manifests(cluster_ip, node_ip=gateway or None, node_name=node_name or None)
    header = "# Written by tug server (the cluster DNS add-on); create dns.yaml.skip to manage it yourself.\n"
    return _write_if_changed(directory / DNS_ADDON, header + yaml.safe_dump_all(objs, sort_keys=False))


def prepare_addons(directory: Path, cluster_ip: str, disabled: set[str]) -> None:
    """At start: the manifests directory exists; the DNS add-on is there (Service only until
    the node is up, unless a previous start left the full file) or, with `--disable dns`, gone —
    so its objects are deleted, as k3s does for disabled add-ons."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / DNS_ADDON
    if "dns" in disabled:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    elif not path.exists():
        write_dns_addon(directory, cluster_ip)


class ServerDeploy:
    """The auto-deployer as `tug server` runs it: DATA_DIR/server/manifests, the add-ons
    prepared, a client with the admin kubeconfig, a background task until `stop()`."""

    def __init__(self, data: Path, cluster_dns_ip: str, disabled: set[str]):
        self.dir = data / "server" / "manifests"
        self.state_path = data / "server" / "manifests.state.json"
        self.kubeconfig = data / "kubeconfig.yaml"
        self.dns_ip = cluster_dns_ip
        self.disabled = disabled
        self.deploy: AutoDeploy | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None

    def start(self) -> None:
        from tugboat.client import Client, load_kubeconfig

        prepare_addons(self.dir, self.dns_ip, self.disabled)
        self._client = Client(load_kubeconfig(str(self.kubeconfig)), component="tug-deploy")
        self.deploy = AutoDeploy(self._client, self.dir, self.state_path)
        self._task = asyncio.create_task(self.deploy.run(self._stop), name="tug-deploy")

    async def dns_gateway(self, gateway: str, node_name: str) -> None:
        """The DNS server's node address is known: point kube-dns there (LocalNode calls this)."""
        if write_dns_addon(self.dir, self.dns_ip, gateway=gateway, node_name=node_name) and self.deploy:
            self.deploy.poke()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
