"""The runc runtime's on-disk records: what a restarted agent needs to adopt its pods.

Layout under the runtime's root_dir:
  sandboxes/<id>/sandbox.json   the sandbox (pod identity, IP, namespace files, state)
  sandboxes/<id>/{hosts,resolv.conf,hostname,shm/}
  containers/<id>/container.json  the container (name, attempt, image, pids + start times)
  containers/<id>/config.json     the OCI bundle runc runs (the dir is the bundle)
  containers/<id>/exit.json       written by the shim when the container exits
Records are written atomically (temp file + rename) and kept in memory after first read;
`exit.json` is the only file another process (the shim) writes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass
class SandboxRecord:
    id: str
    pod_uid: str
    name: str
    namespace: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    host_ipc: bool = False
    host_pid: bool = False
    netns: str = ""
    ipc_ns: str = ""
    uts_ns: str = ""
    ip: str = ""
    state: str = "ready"
    created_at: float = 0.0
    cgroup_parent: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    port_mappings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    name: str
    attempt: int = 0
    image: str = ""
    image_id: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    log_path: str = ""
    cgroups_path: str = ""
    shim_pid: int = 0
    shim_start: int = 0
    init_pid: int = 0
    init_start: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(data))
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = orjson.loads(f.read())
            return data
    except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
        return None


class StateStore:
    def __init__(self, root_dir: str):
        self.sandbox_root = os.path.join(root_dir, "sandboxes")
        self.container_root = os.path.join(root_dir, "containers")
        os.makedirs(self.sandbox_root, exist_ok=True)
        os.makedirs(self.container_root, exist_ok=True)
        self.sandboxes: dict[str, SandboxRecord] = {}
        self.containers: dict[str, ContainerRecord] = {}
        self.exits: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        for sid in os.listdir(self.sandbox_root):
            data = read_json(os.path.join(self.sandbox_root, sid, "sandbox.json"))
            if data:
                self.sandboxes[sid] = SandboxRecord(**data)
        for cid in os.listdir(self.container_root):
            data = read_json(os.path.join(self.container_root, cid, "container.json"))
            if data:
                self.containers[cid] = ContainerRecord(**data)

    def sandbox_dir(self, sid: str) -> str:
        return os.path.join(self.sandbox_root, sid)

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.container_root, cid)

    def save_sandbox(self, rec: SandboxRecord) -> None:
        self.sandboxes[rec.id] = rec
        write_json(os.path.join(self.sandbox_dir(rec.id), "sandbox.json"), asdict(rec))

    def save_container(self, rec: ContainerRecord) -> None:
        self.containers[rec.id] = rec
        write_json(os.path.join(self.container_dir(rec.id), "container.json"), asdict(rec))

    def exit_info(self, cid: str) -> dict[str, Any] | None:
        """The shim's exit record (cached once present: it never changes)."""
        info = self.exits.get(cid)
        if info is None:
            info = read_json(os.path.join(self.container_dir(cid), "exit.json"))
            if info is not None:
                self.exits[cid] = info
        return info

    def forget_container(self, cid: str) -> None:
        self.containers.pop(cid, None)
        self.exits.pop(cid, None)

    def forget_sandbox(self, sid: str) -> None:
        self.sandboxes.pop(sid, None)
