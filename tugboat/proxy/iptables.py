"""Talking to iptables: one `iptables-restore --noflush` per sync, `iptables-save` to look.

Every change is one transaction (nf_tables backend: all-or-nothing) built by `render()`:
chains being (re)written are declared (`:CHAIN - [0:0]` flushes an existing chain even with
--noflush), their rules follow, chains no longer wanted are declared and then `-X`ed, and
missing jumps from the built-in chains are inserted. Unchanged chains are not mentioned at all,
so a partial sync costs only what changed. `Host` runs the commands in the proxy's network
namespace: the host's own, or a named one (`ip netns exec`), which is how tests and
several-nodes-on-one-machine setups give each proxy its own "host".
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from tugboat.proxy import names
from tugboat.proxy.rules import ChainKey, Ruleset

TABLES = ("filter", "nat")
_JUMP = re.compile(r" -j (\S+)")


class IptablesError(Exception):
    pass


class Host:
    """Runs commands in one network namespace (None: the current one)."""

    def __init__(self, netns: str | None = None):
        self.netns = netns

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else list(cmd)

    async def run(self, *cmd: str, stdin: bytes | None = None, check: bool = True) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*cmd), stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin)
        rc = proc.returncode or 0
        if check and rc != 0:
            raise IptablesError(f"{' '.join(cmd)} exited {rc}: {err.decode(errors='replace').strip()[:2000]}")
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    async def restore(self, payload: str) -> None:
        await self.run("iptables-restore", "--noflush", "-w", "5", stdin=payload.encode())

    async def save(self) -> Saved:
        _, out, _ = await self.run("iptables-save")
        return parse_save(out)

    async def save_chains(self, chains: list[tuple[str, str]]) -> Saved:
        """Only these chains (`iptables -S`, in parallel): ~30 ms each however big the tables
        are, where a full iptables-save of 30 000 rules takes seconds. Missing chains are absent."""
        results = await asyncio.gather(*(self.run("iptables", "-w", "5", "-t", t, "-S", c, check=False)
                                         for t, c in chains))
        saved = Saved()
        for (table, chain), (rc, out, _) in zip(chains, results, strict=True):
            if rc != 0:
                continue
            saved.chains.setdefault(table, set()).add(chain)
            saved.rules[table, chain] = [line for line in out.splitlines() if line.startswith("-A ")]
        return saved


@dataclass
class Saved:
    """What iptables-save showed: chains per table and each chain's rule lines."""

    chains: dict[str, set[str]] = field(default_factory=dict)
    rules: dict[ChainKey, list[str]] = field(default_factory=dict)

    def ours(self, table: str) -> set[str]:
        return {c for c in self.chains.get(table, ()) if names.is_ours(c)}

    def has_rule(self, table: str, chain: str, rule: str) -> bool:
        return f"-A {chain} {rule}" in self.rules.get((table, chain), ())


def parse_save(text: str) -> Saved:
    s = Saved()
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            s.chains.setdefault(table, set())
        elif line.startswith(":") and table:
            s.chains[table].add(line[1:].split(" ", 1)[0])
        elif line.startswith("-A ") and table:
            chain = line.split(" ", 2)[1]
            s.rules.setdefault((table, chain), []).append(line)
    return s


def missing_jumps(saved: Saved | None, jumps: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    if saved is None:
        return list(jumps)
    return [j for j in jumps if not saved.has_rule(*j)]


def render(desired: Ruleset, applied: Ruleset, *, full: bool, saved: Saved | None = None,
           jumps: list[tuple[str, str, str]] | None = None) -> str:
    """The iptables-restore input turning `applied` (what we last wrote) into `desired`.

    full: rewrite every desired chain, delete every chain of ours `saved` shows that is not
    desired, and insert the `jumps` missing from `saved`. Returns "" when nothing changes.
    """
    out: list[str] = []
    add_jumps = missing_jumps(saved, jumps or []) if full else []
    for table in TABLES:
        want = {c for (t, c) in desired if t == table}
        write = sorted(c for c in want if full or desired[table, c] != applied.get((table, c)))
        gone = {c for (t, c) in applied if t == table} - want
        if full and saved is not None:
            gone |= saved.ours(table) - want
        table_jumps = [j for j in add_jumps if j[0] == table]
        if not write and not gone and not table_jumps:
            continue
        out.append(f"*{table}")
        out.extend(f":{c} - [0:0]" for c in [*write, *sorted(gone)])
        for _, chain, rule in reversed(table_jumps):
            out.append(f"-I {chain} 1 {rule}")
        for c in write:
            out.extend(desired[table, c])
        out.extend(f"-X {c}" for c in sorted(gone))
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def render_cleanup(saved: Saved) -> str:
    """Delete every jump into our chains from any other chain, then flush and delete ours."""
    out: list[str] = []
    for table in TABLES:
        ours = saved.ours(table)
        if not ours:
            continue
        out.append(f"*{table}")
        out.extend(f":{c} - [0:0]" for c in sorted(ours))
        for (t, chain), lines in saved.rules.items():
            if t != table or chain in ours:
                continue
            for line in lines:
                m = _JUMP.search(line)
                if m and m.group(1) in ours:
                    out.append("-D" + line[2:])
        out.extend(f"-X {c}" for c in sorted(ours))
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def drift(applied: Ruleset, saved: Saved, jumps: list[tuple[str, str, str]]) -> list[str]:
    """How the live rules differ from what we wrote (by chain presence and rule count — cheap
    and robust to iptables-save's re-formatting): someone flushed, deleted or added rules."""
    problems = []
    for (table, chain), lines in applied.items():
        if chain not in saved.chains.get(table, ()):
            problems.append(f"{table}/{chain} missing")
        elif len(saved.rules.get((table, chain), ())) != len(lines):
            problems.append(f"{table}/{chain} has {len(saved.rules.get((table, chain), ()))} rules, "
                            f"expected {len(lines)}")
    problems += [f"{t}/{c} jump missing: {r}" for t, c, r in missing_jumps(saved, jumps)]
    return problems
