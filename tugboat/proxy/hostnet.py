"""Host routing the proxy sets up around its rules, and puts back on stop.

* `unreachable <service CIDR>` in the main table: a packet to a VIP that no rule translated
  (a Service not yet programmed, the proxy stopped) fails on the node instead of following the
  default route off the host.
* That route alone is not enough: locally generated packets are routed *before* the nat OUTPUT
  hook (connect() to any VIP would fail with EHOSTUNREACH), and forwarded packets are routed
  before the filter FORWARD hook (a Service without endpoints would answer "no route to host"
  instead of upstream's REJECT, "connection refused"). So a policy rule sends the service CIDR
  to a table that routes it via `lo`: DNATed packets are re-routed to their endpoint, the
  filter rules see the rest (REJECT for no endpoints, and a catch-all REJECT
  icmp-host-unreachable for addresses no Service owns — rules.py), and anything left loops
  back on `lo` and is dropped: it still never leaves the host. With the policy rule gone (the
  proxy stopped) the unreachable route answers.
* `net.ipv4.conf.all.route_localnet=1` lets NodePorts answer on 127.0.0.1 (upstream iptables
  mode does the same); the old value is restored on stop.

A proxy that was SIGKILLed cannot undo any of this, and the next one must still know what is
its to remove: the unreachable route is added with routing protocol 116 (`proto 116`, unused
by iproute2's rt_protos) so an existing route with that mark is the proxy's own, and the
route_localnet value found before the first change is kept in a file under /run (tmpfs, like
the sysctl itself) until it is put back — by the next proxy's stop or `tug proxy --cleanup`.
"""

from __future__ import annotations

import contextlib
import logging
import os

from tugboat.proxy.iptables import Host

log = logging.getLogger(__name__)
ROUTE_LOCALNET = "net.ipv4.conf.all.route_localnet"
ROUTE_PROTO = "116"  # marks the unreachable route as the proxy's
STATE_DIR = "/run/tugboat/proxy"


class HostNetwork:
    def __init__(self, host: Host, service_cidr: str, *, localhost_nodeports: bool = True,
                 policy_route: bool = True, table: int = 7470, state_dir: str = STATE_DIR):
        self.host = host
        self.localnet_file = os.path.join(state_dir, f"route_localnet.{host.netns or 'host'}")
        self.cidr = service_cidr
        self.localhost_nodeports = localhost_nodeports
        self.policy_route = policy_route
        self.table = table
        self._added_route = False
        self._added_rule = False
        self._old_localnet: str | None = None

    async def setup(self) -> None:
        h = self.host
        _, out, _ = await h.run("ip", "-4", "route", "show", "exact", self.cidr, "type", "unreachable")
        _, ours, _ = await h.run("ip", "-4", "route", "show", "exact", self.cidr, "type", "unreachable",
                                 "proto", ROUTE_PROTO)
        if not out.strip() or ours.strip():  # none, or one a proxy before us added
            await h.run("ip", "route", "replace", "unreachable", self.cidr, "proto", ROUTE_PROTO)
            self._added_route = True
        if self.policy_route:
            await h.run("ip", "route", "replace", self.cidr, "dev", "lo", "table", str(self.table))
            _, out, _ = await h.run("ip", "-4", "rule", "show", "pref", str(self.table))
            if self.cidr not in out:
                await h.run("ip", "rule", "add", "pref", str(self.table), "to", self.cidr, "lookup", str(self.table))
            self._added_rule = True
        if self.localhost_nodeports:
            saved = self._saved_localnet()
            _, old, _ = await h.run("sysctl", "-n", ROUTE_LOCALNET)
            if saved is not None:  # a proxy before us changed it and died: its saved value is the real one
                self._old_localnet = saved
            elif old.strip() != "1":
                self._save_localnet(old.strip())
                self._old_localnet = old.strip()
            if old.strip() != "1":
                await h.run("sysctl", "-qw", f"{ROUTE_LOCALNET}=1")

    def _saved_localnet(self) -> str | None:
        try:
            with open(self.localnet_file) as f:
                return f.read().strip() or None
        except OSError:
            return None

    def _save_localnet(self, value: str) -> None:
        try:
            os.makedirs(os.path.dirname(self.localnet_file), exist_ok=True)
            with open(self.localnet_file, "w") as f:
                f.write(value + "\n")
        except OSError as e:  # still works; only a crash would leave the sysctl changed
            log.warning("proxy: cannot record %s's old value in %s: %s", ROUTE_LOCALNET, self.localnet_file, e)

    async def remove_leftovers(self) -> None:
        """Remove the routes and rule a proxy that died left behind (`tug proxy --cleanup`), and
        put route_localnet back if a proxy recorded its old value."""
        self._added_route = self._added_rule = True
        self._old_localnet = self._saved_localnet()
        await self.teardown()

    async def teardown(self) -> None:
        h = self.host
        if self._added_rule:
            await h.run("ip", "rule", "del", "pref", str(self.table), "to", self.cidr, "lookup", str(self.table),
                        check=False)
            await h.run("ip", "route", "del", self.cidr, "dev", "lo", "table", str(self.table), check=False)
            self._added_rule = False
        if self._added_route:
            await h.run("ip", "route", "del", "unreachable", self.cidr, "proto", ROUTE_PROTO, check=False)
            self._added_route = False
        if self._old_localnet is not None:
            await h.run("sysctl", "-qw", f"{ROUTE_LOCALNET}={self._old_localnet}", check=False)
            self._old_localnet = None
            with contextlib.suppress(OSError):
                os.unlink(self.localnet_file)
            with contextlib.suppress(OSError):  # only when no other proxy's file is in it
                os.rmdir(os.path.dirname(self.localnet_file))
