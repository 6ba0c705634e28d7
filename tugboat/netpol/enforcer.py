"""The per-node NetworkPolicy enforcer: informers → rules.build → one iptables-restore.

Runs inside the node agent (like k3s, whose agent runs kube-router's policy controller): the
agent is the one process on every node that knows the node's name and runs as long as its
pods do, and the rules concern only the pods of this node. It watches every pod (peers may
be anywhere), namespaces (namespaceSelector) and NetworkPolicies, and recomputes the whole
filter rule set on any change (debounced by `min_sync_period`); only chains whose text
changed are rewritten, in one transaction. Every `resync_period` it also checks that our
chains still exist and that our jumps are still rule 1 of FORWARD/INPUT (the pod bridge's and
the service proxy's ACCEPT rules are inserted at the top too, and would otherwise bypass the
policies) and repairs them. `stop()` removes every chain and jump of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from tugboat.api.scheme import default_scheme
from tugboat.client import Client, InformerFactory
from tugboat.netpol import rules
from tugboat.netpol.model import PeerIndex, compute, pod_info

log = logging.getLogger(__name__)
_S = default_scheme()
POD = _S.by_kind("", "v1", "Pod")
NAMESPACE = _S.by_kind("", "v1", "Namespace")
NETPOL = _S.by_kind("networking.k8s.io", "v1", "NetworkPolicy")
Runner = Callable[..., Awaitable[tuple[int, str, str]]]


async def run_cmd(*argv: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin)
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


class PolicyEnforcer:
    """A node-agent service (async start/stop)."""

    def __init__(self, client: Client, node_name: str, *, netns: str | None = None,
                 min_sync_period: float = 0.2, resync_period: float = 10.0, runner: Runner = run_cmd):
        assert POD is not None and NAMESPACE is not None and NETPOL is not None
        self.node_name = node_name
        self.netns = netns
        self.min_sync_period = min_sync_period
        self.resync_period = resync_period
        self._run = runner
        self.factory = InformerFactory(client)
        self.pods = self.factory.informer(POD)
        self.namespaces = self.factory.informer(NAMESPACE)
        self.policies = self.factory.informer(NETPOL)
        self.applied: rules.Ruleset = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.syncs = 0
        self.last_sync_seconds = 0.0

    def _argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else list(cmd)

    async def run(self, *cmd: str, stdin: bytes | None = None, check: bool = True) -> str:
        rc, out, err = await self._run(*self._argv(*cmd), stdin=stdin)
        if check and rc != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {rc}: {err.strip()[:2000]}")
        return out

    async def start(self) -> None:
        for inf in (self.pods, self.namespaces, self.policies):
            inf.add_event_handler(on_add=self._kick, on_update=lambda _o, n: self._kick(n), on_delete=self._kick)
        self.factory.start()
        await self.factory.wait_for_sync()
        await self.sync(check_live=True)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"netpol-{self.node_name}")

    def _kick(self, _obj: object) -> None:
        self._dirty.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.factory.stop()
        await self.cleanup()

    async def _loop(self) -> None:
        last_check = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.resync_period)
            await asyncio.sleep(self.min_sync_period)  # batch a burst of events into one sync
            self._dirty.clear()
            check = time.monotonic() - last_check >= self.resync_period
            try:
                await self.sync(check_live=check)
                if check:
                    last_check = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried at the next event or resync
                log.warning("netpol: sync failed: %s", e)
                self.applied = {}

    def desired(self) -> rules.Ruleset:
        infos = [i for i in (pod_info(p) for p in self.pods.lister.list()) if i is not None]
        ns_labels = {(n.get("metadata") or {}).get("name", ""): dict((n.get("metadata") or {}).get("labels") or {})
                     for n in self.namespaces.lister.list()}
        local = [i for i in infos if i.node == self.node_name]
        return rules.build(compute(local, self.policies.lister.list(), PeerIndex(infos, ns_labels)))

    async def sync(self, check_live: bool = False) -> None:
        """Make the live rules the desired ones. `check_live` also looks at what is really in
        the kernel (someone flushed or reordered) instead of trusting what we last wrote; the
        jump positions are always checked, since other components insert at rule 1 at any time."""
        t0 = time.monotonic()
        want = self.desired()
        existing = await self._our_chains() if (check_live or not self.applied) else set(self.applied)
        applied = {} if check_live else self.applied
        fix = await self._misplaced_jumps()
        payload = rules.render(want, applied, existing, fix)
        if payload:
            await self.run("iptables-restore", "--noflush", "-w", "5", stdin=payload.encode())
        self.applied = want
        self.syncs += 1
        self.last_sync_seconds = time.monotonic() - t0

    async def _our_chains(self) -> set[str]:
        out = await self.run("iptables", "-w", "5", "-t", "filter", "-S", check=False)
        return {line.split()[1] for line in out.splitlines() if line.startswith("-N ") and rules.is_ours(line.split()[1])}

    async def _misplaced_jumps(self) -> list[tuple[str, str, int]]:
        fix = []
        for builtin, chain, comment in rules.JUMPS:
            out = await self.run("iptables", "-w", "5", "-t", "filter", "-S", builtin, check=False)
            lines = [ln for ln in out.splitlines() if ln.startswith("-A ")]
            ours = [ln for ln in lines if ln.endswith(f"-j {chain}")]
            if not lines or lines[0] not in ours or len(ours) != 1:
                fix.append((builtin, rules.jump_rule(chain, comment), len(ours)))
        return fix

    async def cleanup(self) -> None:
        """Remove every jump into our chains and the chains themselves (also what a crashed
        enforcer left)."""
        lines = ["*filter"]
        for builtin, chain, _ in rules.JUMPS:
            out = await self.run("iptables", "-w", "5", "-t", "filter", "-S", builtin, check=False)
            lines += ["-D" + ln[2:] for ln in out.splitlines() if ln.startswith("-A ") and ln.endswith(f"-j {chain}")]
        chains = sorted(await self._our_chains())
        lines += [f":{c} - [0:0]" for c in chains] + [f"-X {c}" for c in chains] + ["COMMIT"]
        if len(lines) > 2:
            await self.run("iptables-restore", "--noflush", "-w", "5", stdin=("\n".join(lines) + "\n").encode(),
                           check=False)
        self.applied = {}
