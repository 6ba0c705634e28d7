"""The node half of the `rancher.io/local-path` provisioner: advertise the directory, clean up.

Why on the node: a local-path volume is a directory on one node's disk, so only that node's
agent can remove it. The PV controller writes PV objects only; this service
* annotates its Node with `storage.tugboat.io/local-path-dir: <agent data dir>/storage`, which
  the provisioner uses to build the PV's hostPath (`<dir>/<pv>_<namespace>_<claim>`);
* (the directory is created by the volume manager when a pod mounts it: hostPath
  DirectoryOrCreate);
* watches PersistentVolumes and, for a Released volume with reclaim policy Delete that was
  provisioned by local-path on THIS node, removes the directory and then deletes the PV (as
  local-path-provisioner's helper pod and the external provisioner do). Retain keeps both.
Safety: only paths strictly inside this node's storage directory are ever removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import Any

from tugboat.api.scheme import default_scheme
from tugboat.api.storage_binding import (
    ANN_DYNAMICALLY_PROVISIONED,
    LOCAL_PATH_DIR_ANN,
    LOCAL_PATH_NODE_ANN,
    LOCAL_PATH_PROVISIONER,
    anns,
    meta,
    spec,
)
from tugboat.client import ApiStatusError, Client, EventRecorder, InformerFactory, is_not_found

log = logging.getLogger(__name__)
_S = default_scheme()
PV_RT = _S.get("", "v1", "persistentvolumes")
NODE_RT = _S.get("", "v1", "nodes")
Obj = dict[str, Any]


class LocalPathVolumes:
    """An agent service (start/stop): see the module docstring."""

    def __init__(self, client: Client, node_name: str, storage_dir: str, *, retry: float = 2.0):
        self.client = client
        self.node_name = node_name
        self.storage_dir = os.path.realpath(storage_dir)
        self.retry = retry
        self.recorder = EventRecorder(client, "local-path-provisioner", node_name)
        self._todo: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._informers: InformerFactory | None = None

    async def start(self) -> None:
        os.makedirs(self.storage_dir, mode=0o755, exist_ok=True)
        assert PV_RT is not None
        self._informers = InformerFactory(self.client)
        inf = self._informers.informer(PV_RT)
        inf.add_event_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n))
        self._informers.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._advertise(), name=f"localpath-advertise-{self.node_name}"),
                       loop.create_task(self._worker(), name=f"localpath-cleanup-{self.node_name}")]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._informers is not None:
            await self._informers.stop()
        await self.recorder.flush()

    def ours(self, pv: Obj) -> bool:
        return (anns(pv).get(ANN_DYNAMICALLY_PROVISIONED) == LOCAL_PATH_PROVISIONER
                and anns(pv).get(LOCAL_PATH_NODE_ANN) == self.node_name)

    def _changed(self, pv: Obj) -> None:
        if (self.ours(pv) and (pv.get("status") or {}).get("phase") == "Released"
                and spec(pv).get("persistentVolumeReclaimPolicy") == "Delete"):
            self._todo.put_nowait(meta(pv).get("name", ""))

    async def _advertise(self) -> None:
        """Put the storage directory on our Node (it may not be registered yet: retry)."""
        assert NODE_RT is not None
        body = {"metadata": {"annotations": {LOCAL_PATH_DIR_ANN: self.storage_dir}}}
        while True:
            try:
                await self.client.patch(NODE_RT, self.node_name, body)
                return
            except ApiStatusError as e:
                if not is_not_found(e):
                    log.warning("node %s: advertising local-path dir: %s", self.node_name, e)
            await asyncio.sleep(self.retry)

    async def _worker(self) -> None:
        while True:
            name = await self._todo.get()
            try:
                await self.reclaim(name)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried below
                log.warning("node %s: deleting local-path volume %s: %s", self.node_name, name, e)
                asyncio.get_running_loop().call_later(self.retry, self._todo.put_nowait, name)

    def path_of(self, pv: Obj) -> str | None:
        """The volume's directory if it is strictly inside our storage dir, else None."""
        raw = (spec(pv).get("hostPath") or {}).get("path") or ""
        path = os.path.realpath(raw) if raw else ""
        if not path or os.path.dirname(path) != self.storage_dir:
            return None
        return path

    async def reclaim(self, name: str) -> None:
        assert PV_RT is not None
        try:
            pv = await self.client.get(PV_RT, name)
        except ApiStatusError as e:
            if is_not_found(e):
                return
            raise
        if not self.ours(pv) or (pv.get("status") or {}).get("phase") != "Released":
            return
        path = self.path_of(pv)
        if path is None:
            self.recorder.emit(pv, "Warning", "VolumeFailedDelete",
                               f"refusing to delete {spec(pv).get('hostPath')}: not under {self.storage_dir}")
            return
        await asyncio.to_thread(shutil.rmtree, path, True)
        try:
            await self.client.delete(PV_RT, name)
        except ApiStatusError as e:
            if not is_not_found(e):
                raise
