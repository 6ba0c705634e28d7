"""Liveness, readiness and startup probes (upstream prober/worker semantics).

One task per (container, probe kind) while the container runs. Defaults as upstream:
initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, successThreshold 1,
failureThreshold 3. Readiness is false until the first success; no probe means success.
A startup probe gates the other two (they do not run until it succeeded). Reaching the
failure threshold of liveness or startup asks the pod worker to kill the container (the
restart policy then applies). Every failed attempt records an `Unhealthy` event worded like
upstream (`Readiness probe failed: …`).

Handlers: exec through `runtime.exec_sync`, httpGet (200–399 passes) and tcpSocket against
the pod IP. On a simulated runtime the outcome comes from pod annotations instead
(`SimulatedRuntime.simulated_probe`), and annotations can ask for a readiness probe the spec
does not have (`sim.tugboat.dev/never-ready`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tugboat.client.clock import AsyncClock
from tugboat.node.runtime.base import Runtime

log = logging.getLogger(__name__)
KINDS = ("startup", "liveness", "readiness")
_FIELD = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
_TITLE = {"startup": "Startup", "liveness": "Liveness", "readiness": "Readiness"}


@dataclass
class ContainerProbes:
    container_id: str
    started: bool = True  # startup probe passed (or there is none)
    ready: bool = True  # readiness (True when there is no readiness probe)
    kill_reason: str = ""  # set when liveness/startup reached the failure threshold
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def probe_settings(probe: dict[str, Any]) -> tuple[float, float, float, int, int]:
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            float(probe.get("timeoutSeconds") or 1), int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3))


class ProbeManager:
    def __init__(self, runtime: Runtime, clock: AsyncClock, on_change: Callable[[str], None],
                 on_event: Callable[[dict[str, Any], str, str, str, str], None]):
        self.runtime = runtime
        self.clock = clock
        self.on_change = on_change
        self.on_event = on_event  # (pod, type, reason, message, fieldPath)
        self._state: dict[tuple[str, str], ContainerProbes] = {}
        self._sim = getattr(runtime, "simulated_probe", None)

    def _probes(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out = {k: container[_FIELD[k]] for k in KINDS if container.get(_FIELD[k])}
        wants = getattr(self.runtime, "wants_probe", None)
        if wants is not None:
            anns = (pod.get("metadata") or {}).get("annotations") or {}
            for k in KINDS:
                if k not in out and wants(anns, k):
                    out[k] = {"periodSeconds": 1 if k != "readiness" or "sim.tugboat.dev/ready-after" in anns else 10}
        return out

    def get(self, uid: str, name: str, container_id: str) -> ContainerProbes | None:
        st = self._state.get((uid, name))
        return st if st is not None and st.container_id == container_id else None

    def ensure(self, pod: dict[str, Any], container: dict[str, Any], container_id: str, pod_ip: str) -> ContainerProbes:
        """Start probing a running container (idempotent per container id)."""
        uid = pod["metadata"]["uid"]
        key = (uid, container.get("name", ""))
        st = self._state.get(key)
        if st is not None and st.container_id == container_id:
            return st
        if st is not None:
            self._cancel(st)
        probes = self._probes(pod, container)
        st = ContainerProbes(container_id, started="startup" not in probes, ready="readiness" not in probes)
        self._state[key] = st
        for kind, spec in probes.items():
            st.tasks.append(asyncio.get_running_loop().create_task(
                self._worker(pod, container, st, kind, spec, pod_ip), name=f"probe-{kind}-{key[1]}"))
        return st

    def _cancel(self, st: ContainerProbes) -> None:
        for t in st.tasks:
            t.cancel()
        st.tasks.clear()

    def remove_container(self, uid: str, name: str) -> None:
        st = self._state.pop((uid, name), None)
        if st is not None:
            self._cancel(st)

    def remove_pod(self, uid: str) -> None:
        for key in [k for k in self._state if k[0] == uid]:
            self.remove_container(*key)

    async def _worker(self, pod: dict[str, Any], container: dict[str, Any], st: ContainerProbes, kind: str,
                      spec: dict[str, Any], pod_ip: str) -> None:
        delay, period, timeout, succ_th, fail_th = probe_settings(spec)
        if kind in ("liveness", "startup"):
            succ_th = 1
        uid = pod["metadata"]["uid"]
        cname = container.get("name", "")
        fpath = _field_path(pod, cname)
        await self.clock.sleep(delay)
        successes = failures = 0
        while True:
            if kind != "startup" and not st.started:
                await self.clock.sleep(period)
                continue
            try:
                ok, msg = await self._run(kind, spec, st.container_id, container, pod_ip, timeout)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a probe error is a failure
                ok, msg = False, str(e)
            if ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.on_event(pod, "Warning", "Unhealthy", f"{_TITLE[kind]} probe failed: {msg}".rstrip(), fpath)
            changed = False
            if kind == "readiness":
                if ok and successes >= succ_th and not st.ready:
                    st.ready, changed = True, True
                elif not ok and failures >= fail_th and st.ready:
                    st.ready, changed = False, True
            elif kind == "startup":
                if ok:
                    st.started = changed = True
                elif failures >= fail_th:
                    st.kill_reason, changed = "startup", True
            elif not ok and failures >= fail_th:
                st.kill_reason, changed = "liveness", True
            if changed:
                self.on_change(uid)
            if st.kill_reason or (kind == "startup" and st.started):
                return
            await self.clock.sleep(period)

    async def _run(self, kind: str, spec: dict[str, Any], cid: str, container: dict[str, Any], pod_ip: str,
                   timeout: float) -> tuple[bool, str]:
        if self._sim is not None:
            ok, msg = self._sim(cid, kind)
            return bool(ok), str(msg)
        if "exec" in spec:
            res = await self.runtime.exec_sync(cid, list(spec["exec"].get("command") or []), timeout)
            out = (res.stdout + res.stderr).decode("utf-8", "replace").strip()
            return res.exit_code == 0, out or f"command exited with {res.exit_code}"
        if "httpGet" in spec:
            return await _http(spec["httpGet"], container, pod_ip, timeout)
        if "tcpSocket" in spec:
            host = spec["tcpSocket"].get("host") or pod_ip
            port = _port(spec["tcpSocket"].get("port"), container)
            try:
                _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            except (OSError, TimeoutError) as e:
                return False, f"dial tcp {host}:{port}: {e}"
            w.close()
            return True, ""
        return False, "unsupported probe handler"


def _field_path(pod: dict[str, Any], name: str) -> str:
    spec = pod.get("spec") or {}
    for section in ("containers", "initContainers"):
        if any(c.get("name") == name for c in spec.get(section) or []):
            return f"spec.{section}{{{name}}}"
    return ""


def _port(port: Any, container: dict[str, Any]) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p.get("containerPort", 0))
    try:
        return int(port)
    except (TypeError, ValueError):
        return 0


async def _http(spec: dict[str, Any], container: dict[str, Any], pod_ip: str, timeout: float) -> tuple[bool, str]:
    scheme = (spec.get("scheme") or "HTTP").lower()
    host = spec.get("host") or pod_ip
    port = _port(spec.get("port"), container)
    path = spec.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*"}
    for h in spec.get("httpHeaders") or []:
        headers[h.get("name", "")] = h.get("value", "")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url, headers=headers, ssl=False, allow_redirects=True) as r:
                if 200 <= r.status < 400:
                    return True, ""
                return False, f"HTTP probe failed with statuscode: {r.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        return False, f'Get "{url}": {e or type(e).__name__}'
