"""One pod's sync: compare what should run with what the runtime reports, and act.

Called by the pod's worker (never concurrently for one pod). Each call is level-triggered:
it re-reads the runtime, so after an agent restart it simply adopts what runs (containers are
found by their `io.kubernetes.*` labels; restart counts are their attempt numbers) and only
starts what is missing. Order of work, as the kubelet: volumes → sandbox → init containers one
at a time (each must exit 0) → app containers; restarts follow restartPolicy with upstream's
crash-loop back-off; a liveness/startup failure kills the container; deletion stops containers
gracefully (preStop, SIGTERM, grace period, SIGKILL) and then deletes the pod object with
grace 0. Returns the seconds after which it wants to run again (a back-off expiring), None
for "only when something changes", or DONE when the pod is gone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from tugboat.client import ApiStatusError, is_not_found
from tugboat.node import keys
from tugboat.node.containers import container_config, sandbox_config
from tugboat.node.envvars import ConfigError
from tugboat.node.podstatus import PodView, build_status, is_sidecar
from tugboat.node.runtime.base import ContainerStatus
from tugboat.node.subpath import UnsafePath

log = logging.getLogger(__name__)
DONE = -1.0
WARNING, NORMAL = "Warning", "Normal"


@dataclass
class PodRecord:
    uid: str
    pod: dict[str, Any]
    gone: bool = False  # the API object no longer exists
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    terminal: str = ""  # "Succeeded"/"Failed" once decided
    last_status: bytes = b""
    wake_in: float | None = None


def _sort_key(c: ContainerStatus) -> tuple[int, float]:
    return (c.attempt, c.created_at)


class PodSyncer:
    def __init__(self, agent: Any):
        self.a = agent

    # ---- helpers ----
    def _event(self, pod: dict[str, Any], typ: str, reason: str, msg: str, cname: str = "") -> None:
        fp = ""
        if cname:
            spec = pod.get("spec") or {}
            sect = "initContainers" if any(c.get("name") == cname for c in spec.get("initContainers") or []) \
                else "containers"
            fp = f"spec.{sect}{{{cname}}}"
        self.a.recorder.emit(pod, typ, reason, msg, fp)

    def _want(self, rec: PodRecord, seconds: float) -> None:
        rec.wake_in = seconds if rec.wake_in is None else min(rec.wake_in, seconds)

    async def _containers(self, uid: str) -> tuple[dict[str, ContainerStatus], dict[str, ContainerStatus],
                                                    list[ContainerStatus]]:
        # per sandbox of this pod: a runtime's status of one container costs I/O (runc: /proc
        # reads), and listing every container of the node on each sync made syncs O(pods)
        rt = self.a.runtime
        sandboxes = [s.id for s in await rt.list_sandboxes() if s.pod_uid == uid]
        mine = [c for sid in sandboxes for c in await rt.list_containers(sid) if c.labels.get(keys.POD_UID) == uid]
        mine.sort(key=_sort_key)
        latest: dict[str, ContainerStatus] = {}
        previous: dict[str, ContainerStatus] = {}
        for c in mine:
            name = c.labels.get(keys.CONTAINER_NAME, c.name)
            if name in latest:
                previous[name] = latest[name]
            latest[name] = c
        return latest, previous, mine

    # ---- entry point ----
    async def sync(self, rec: PodRecord) -> float | None:
        rec.wake_in = None
        pod = rec.pod
        if rec.gone or (pod.get("metadata") or {}).get("deletionTimestamp"):
            await self.terminate(rec)
            return DONE
        sandboxes = [s for s in await self.a.runtime.list_sandboxes() if s.pod_uid == rec.uid]
        ready = sorted((s for s in sandboxes if s.state == "ready"), key=lambda s: s.created_at)
        latest, previous, mine = await self._containers(rec.uid)
        if not rec.terminal:
            old = (pod.get("status") or {}).get("phase")
            if old in ("Succeeded", "Failed") and not ready:
                rec.terminal = old
        sandbox = ready[-1] if ready else None
        paths: dict[str, str] | None = None
        if not rec.terminal:
            paths = await self._volumes(rec)
            if paths is not None and sandbox is None:
                sandbox = await self._run_sandbox(rec, len(sandboxes), mine)
                latest, previous, mine = await self._containers(rec.uid)
            if paths is not None and sandbox is not None:
                await self._containers_step(rec, sandbox.id, sandbox.ip, latest, paths)
                latest, previous, mine = await self._containers(rec.uid)
                await self._gc(mine, latest, previous)
        status = await self._post_status(rec, latest, previous, sandbox is not None,
                                         sandbox.ip if sandbox else "")
        if status.get("phase") in ("Succeeded", "Failed") and not rec.terminal:
            rec.terminal = status["phase"]
        if rec.terminal:
            for s in ready:
                await self.a.runtime.stop_sandbox(s.id)
            self.a.probes.remove_pod(rec.uid)
            if ready:
                await self._post_status(rec, latest, previous, False, "")
        return rec.wake_in

    # ---- volumes & sandbox ----
    async def _volumes(self, rec: PodRecord) -> dict[str, str] | None:
        try:
            return await self.a.volumes.setup(rec.pod, self.a.get_object)  # type: ignore[no-any-return]
        except (ConfigError, UnsafePath, OSError, ValueError) as e:
            self._event(rec.pod, WARNING, "FailedMount", str(e))
            self._want(rec, 2.0)
            return None

    async def _run_sandbox(self, rec: PodRecord, attempt: int, old: list[ContainerStatus]) -> Any:
        for c in old:
            if c.state in ("running", "created"):
                await self.a.runtime.stop_container(c.id, 0)
        if attempt:
            self._event(rec.pod, NORMAL, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        dns_warnings: list[tuple[str, str]] = []
        cfg = sandbox_config(rec.pod, attempt, self.a.cluster_dns, self.a.cluster_domain, dns_warnings=dns_warnings)
        if not self.a.simulated:  # simulated sandboxes have no resolv.conf: nothing was cut
            for reason, msg in dns_warnings:  # as the kubelet's DNS configurer records them
                self._event(rec.pod, WARNING, reason, msg)
        try:
            sid = await self.a.runtime.run_sandbox(cfg)
        except Exception as e:  # noqa: BLE001 - reported, retried
            self._event(rec.pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e}")
            self._want(rec, 2.0)
            return None
        return await self.a.runtime.sandbox_status(sid)

    # ---- containers ----
    async def _containers_step(self, rec: PodRecord, sid: str, pod_ip: str, latest: dict[str, ContainerStatus],
                               paths: dict[str, str]) -> None:
        spec = rec.pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        for c in spec.get("initContainers") or []:
            name = c.get("name", "")
            cur = latest.get(name)
            sidecar = is_sidecar(c)
            if cur is None:
                await self._start(rec, sid, c, 0, "init", pod_ip, paths)
                if not sidecar:
                    return
                continue
            if cur.state in ("running", "created"):
                if sidecar:
                    await self._check_running(rec, c, cur, pod_ip, "Always", sid, paths)
                    continue
                return
            if cur.exit_code == 0 and not sidecar:
                continue
            if policy == "Never" and not sidecar:
                rec.terminal = "Failed"
                return
            await self._restart(rec, sid, c, cur, "init", pod_ip, paths)
            if not sidecar:
                return
        for c in spec.get("containers") or []:
            cur = latest.get(c.get("name", ""))
            if cur is None:
                await self._start(rec, sid, c, 0, "app", pod_ip, paths)
            elif cur.state == "running":
                await self._check_running(rec, c, cur, pod_ip, policy, sid, paths)
            elif cur.state == "exited":
                if policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0):
                    await self._restart(rec, sid, c, cur, "app", pod_ip, paths)
                else:
                    rec.waiting.pop(c.get("name", ""), None)

    async def _check_running(self, rec: PodRecord, c: dict[str, Any], cur: ContainerStatus, pod_ip: str,
                             policy: str, sid: str, paths: dict[str, str]) -> None:
        st = self.a.probes.ensure(rec.pod, c, cur.id, pod_ip)
        if not st.kill_reason:
            return
        name = c.get("name", "")
        what = "liveness" if st.kill_reason == "liveness" else "startup"
        self._event(rec.pod, NORMAL, "Killing", f"Container {name} failed {what} probe, will be restarted", name)
        self.a.probes.remove_container(rec.uid, name)
        await self._kill(rec.pod, c, cur.id, self._grace(rec.pod, c, what))
        now = await self.a.runtime.container_status(cur.id)
        if now is not None and (policy == "Always" or (policy == "OnFailure" and now.exit_code != 0)):
            await self._restart(rec, sid, c, now, "init" if is_sidecar(c) else "app", pod_ip, paths)

    async def _restart(self, rec: PodRecord, sid: str, c: dict[str, Any], cur: ContainerStatus, kind: str,
                       pod_ip: str, paths: dict[str, str]) -> None:
        name = c.get("name", "")
        key = f"{rec.uid}/{name}"
        bo = self.a.backoff
        if bo.in_backoff_since(key, cur.finished_at):
            from tugboat.node.keys import format_pod
            self._event(rec.pod, WARNING, "BackOff",
                        f"Back-off restarting failed container {name} in pod {format_pod(rec.pod)}", name)
            msg = f"back-off {_dur(bo.get(key))} restarting failed container={name} pod={format_pod(rec.pod)}"
            rec.waiting[name] = ("CrashLoopBackOff", msg)
            self._want(rec, bo.remaining(key, cur.finished_at))
            return
        bo.next(key, cur.finished_at)
        await self._start(rec, sid, c, cur.attempt + 1, kind, pod_ip, paths)

    async def _pull(self, rec: PodRecord, c: dict[str, Any]) -> bool:
        pod, name, image = rec.pod, c.get("name", ""), c.get("image", "")
        policy = c.get("imagePullPolicy") or ("Always" if image.endswith(":latest") or ":" not in
                                                image.rsplit("/", 1)[-1] else "IfNotPresent")
        rt = self.a.runtime
        present = await rt.image_present(image)
        if policy == "Never" and not present:
            msg = f'Container image "{image}" is not present with pull policy of Never'
            self._event(pod, WARNING, "ErrImageNeverPull", msg, name)
            rec.waiting[name] = ("ErrImageNeverPull", msg)
            self._want(rec, 10.0)
            return False
        if policy != "Always" and present:
            self._event(pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine', name)
            return True
        key = f"pull/{rec.uid}/{image}"
        bo = self.a.pull_backoff
        now = self.a.clock.time()
        if bo.in_backoff_since_update(key):
            msg = f'Back-off pulling image "{image}"'
            self._event(pod, NORMAL, "BackOff", msg, name)
            rec.waiting[name] = ("ImagePullBackOff", msg)
            self._want(rec, bo.remaining_since_update(key))
            return False
        self._event(pod, NORMAL, "Pulling", f'Pulling image "{image}"', name)
        t0 = self.a.clock.monotonic()
        try:
            pfp = getattr(rt, "pull_image_for_pod", None)
            if pfp is not None:
                await pfp(image, pod, None)
            else:
                await rt.pull_image(image, await self.a.pull_auth(pod, image))
        except Exception as e:  # noqa: BLE001 - reported as ErrImagePull
            reason = getattr(e, "reason", "ErrImagePull")
            self._event(pod, WARNING, "Failed", f'Failed to pull image "{image}": {e}', name)
            self._event(pod, WARNING, "Failed", f"Error: {reason}", name)
            bo.next(key, now)
            rec.waiting[name] = (reason, f'Failed to pull image "{image}": {e}')
            self._want(rec, 1.0)  # the next sync shows ImagePullBackOff until the back-off expires
            return False
        took = _dur(self.a.clock.monotonic() - t0, precise=True)
        self._event(pod, NORMAL, "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting)',
                    name)
        return True

    async def _start(self, rec: PodRecord, sid: str, c: dict[str, Any], attempt: int, kind: str, pod_ip: str,
                     paths: dict[str, str]) -> None:
        pod, name, rt = rec.pod, c.get("name", ""), self.a.runtime
        if not await self._pull(rec, c):
            return
        try:
            cfg = await container_config(_with_ips(pod, pod_ip, self.a.host_ip), c, attempt=attempt, kind=kind,
                                         get=self.a.get_object,
                                         allocatable=self.a.allocatable, volumes=self.a.volumes,
                                         volume_paths=paths, log_dir=self.a.log_dir(pod))
        except (ConfigError, UnsafePath, OSError, ValueError) as e:
            self._event(pod, WARNING, "Failed", f"Error: {e}", name)
            rec.waiting[name] = ("CreateContainerConfigError", str(e))
            self._want(rec, 10.0)
            return
        sb = sandbox_config(pod, 0, self.a.cluster_dns, self.a.cluster_domain)
        try:
            cid = await rt.create_container(sid, cfg, sb)
        except Exception as e:  # noqa: BLE001 - reported and retried
            self._event(pod, WARNING, "Failed", f"Error: {e}", name)
            rec.waiting[name] = ("CreateContainerError", str(e))
            self._want(rec, 10.0)
            return
        self._event(pod, NORMAL, "Created", f"Created container: {name}", name)
        rec.waiting.pop(name, None)
        try:
            await rt.start_container(cid)
        except Exception as e:  # noqa: BLE001 - the exited container drives the back-off
            self._event(pod, WARNING, "Failed", f"Error: {e}", name)
            self._want(rec, 0.0)
            return
        self._event(pod, NORMAL, "Started", f"Started container {name}", name)
        post = (c.get("lifecycle") or {}).get("postStart")
        if post and not await self._hook(pod, c, cid, post, 30.0):
            self._event(pod, WARNING, "FailedPostStartHook", "PostStartHook failed", name)
            await self._kill(pod, c, cid, self._grace(pod, c, ""))

    async def _hook(self, pod: dict[str, Any], c: dict[str, Any], cid: str, handler: dict[str, Any],
                    timeout: float) -> bool:
        try:
            if "exec" in handler:
                res = await self.a.runtime.exec_sync(cid, list(handler["exec"].get("command") or []), timeout)
                return bool(res.exit_code == 0)
            if "sleep" in handler:
                await self.a.clock.sleep(float(handler["sleep"].get("seconds") or 0))
                return True
            if "httpGet" in handler:
                from tugboat.node.probes import _http
                ok, _ = await _http(handler["httpGet"], c, (pod.get("status") or {}).get("podIP", ""), timeout)
                return ok
        except Exception as e:  # noqa: BLE001 - a hook failure is reported, not fatal to the agent
            log.info("lifecycle hook of %s failed: %s", c.get("name"), e)
            return False
        return True

    def _grace(self, pod: dict[str, Any], c: dict[str, Any], probe: str) -> float:
        if probe:
            p = c.get("livenessProbe" if probe == "liveness" else "startupProbe") or {}
            if p.get("terminationGracePeriodSeconds") is not None:
                return float(p["terminationGracePeriodSeconds"])
        g = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return float(g if g is not None else 30)

    async def _kill(self, pod: dict[str, Any], c: dict[str, Any], cid: str, grace: float) -> None:
        t0 = self.a.clock.monotonic()
        pre = (c.get("lifecycle") or {}).get("preStop")
        if pre:
            try:
                await asyncio.wait_for(self._hook(pod, c, cid, pre, grace), timeout=None)
            except Exception:  # noqa: BLE001
                pass
        left = max(2.0, grace - (self.a.clock.monotonic() - t0)) if grace > 0 else 0.0
        await self.a.runtime.stop_container(cid, left)

    async def _gc(self, mine: list[ContainerStatus], latest: dict[str, ContainerStatus],
                  previous: dict[str, ContainerStatus]) -> None:
        keep = {c.id for c in latest.values()} | {c.id for c in previous.values()}
        for c in mine:
            if c.id not in keep and c.state == "exited":
                await self.a.runtime.remove_container(c.id)

    # ---- status ----
    async def _post_status(self, rec: PodRecord, latest: dict[str, ContainerStatus],
                           previous: dict[str, ContainerStatus], sandbox_ready: bool, pod_ip: str) -> dict[str, Any]:
        spec = rec.pod.get("spec") or {}
        specs = {c.get("name"): c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
        probes = {n: self.a.probes.ensure(rec.pod, specs[n], c.id, pod_ip)
                  for n, c in latest.items() if c.state == "running" and n in specs and not rec.terminal}
        view = PodView(rec.pod, latest, previous, rec.waiting, probes, sandbox_ready, pod_ip, self.a.host_ip,
                       self.a.clock.time())
        status = build_status(view, rec.terminal)
        await self.a.write_status(rec, status)
        return status

    # ---- termination ----
    async def terminate(self, rec: PodRecord) -> None:
        pod = rec.pod
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30) if not rec.gone else 2
        latest, previous, mine = await self._containers(rec.uid)
        specs = {c.get("name"): c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])}
        self.a.probes.remove_pod(rec.uid)
        running = [c for c in latest.values() if c.state in ("running", "created")]
        for c in running:
            self._event(pod, NORMAL, "Killing", f"Stopping container {c.name}", c.name)
        await asyncio.gather(*(self._kill(pod, specs.get(c.name) or {}, c.id, float(grace)) for c in running))
        sandboxes = [s for s in await self.a.runtime.list_sandboxes() if s.pod_uid == rec.uid]
        for s in sandboxes:
            await self.a.runtime.stop_sandbox(s.id)
        if not rec.gone:
            latest, previous, mine = await self._containers(rec.uid)
            view = PodView(pod, latest, previous, {}, {}, False, "", self.a.host_ip, self.a.clock.time())
            status = build_status(view, rec.terminal)
            await self.a.write_status(rec, status)
        for s in sandboxes:
            await self.a.runtime.remove_sandbox(s.id)
        for c in mine:
            await self.a.runtime.remove_container(c.id)
        self.a.volumes.teardown(rec.uid)
        self.a.backoff.forget_prefix(rec.uid + "/")
        self.a.pull_backoff.forget_prefix(f"pull/{rec.uid}/")
        if not rec.gone:
            try:
                await self.a.client.delete(self.a.POD, md.get("name", ""), md.get("namespace"),
                                           grace_period_seconds=0, preconditions={"uid": rec.uid})
            except ApiStatusError as e:
                if not is_not_found(e) and e.code != 409:
                    raise


def _with_ips(pod: dict[str, Any], pod_ip: str, host_ip: str) -> dict[str, Any]:
    """The pod as the env/downward API of a new container sees it: status.podIP and hostIP come
    from the sandbox and the node (as upstream's kubelet), not from the API object, whose status
    this agent may not have written yet when the first container starts."""
    status = dict(pod.get("status") or {})
    if (pod.get("spec") or {}).get("hostNetwork"):
        pod_ip = host_ip
    if pod_ip:
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    if host_ip:
        status["hostIP"], status["hostIPs"] = host_ip, [{"ip": host_ip}]
    return {**pod, "status": status}


def status_bytes(status: dict[str, Any]) -> bytes:
    return orjson.dumps(status, option=orjson.OPT_SORT_KEYS)


def _dur(seconds: float, precise: bool = False) -> str:
    """Go's time.Duration String() for the values we print (`10s`, `5m0s`, `1.234s`, `12ms`)."""
    if precise and seconds < 1:
        return f"{int(seconds * 1000)}ms" if seconds > 0 else "0s"
    if precise:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s}s"
    h, m = divmod(m, 60)
    return f"{h}h{m}m{s}s"



