"""Pod networking: wire a sandbox's network namespace to the node's pod bridge with CNI.

Per pod: `loopback` (lo up) and the chain bridge (+ host-local IPAM from the node's podCIDR,
the bridge as the pod's default gateway, hairpin so a pod can reach itself through a
Service) → portmap (hostPort DNAT, only run when the pod has hostPorts). The result of ADD
is cached under `conf_dir/results/` so DEL and CHECK get their `prevResult` after an agent
restart; DEL is idempotent (a missing netns, cache or IP allocation is not an error).
Node-level masquerading/forwarding rules live in hostrules.py (installed once, lazily).
`destroy()` removes what the node-level setup created: the bridge, our chains, and the
host-local state — for node removal and for tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
from dataclasses import dataclass
from typing import Any

import orjson

from tugboat.node.network import hostrules
from tugboat.node.network.cni import CNIError, Invocation, add_chain, check_chain, del_chain, invoke


@dataclass
class NetworkStatus:
    ip: str
    gateway: str = ""
    prefix_len: int = 0
    interface: str = "eth0"


class PodNetwork:
    def __init__(self, pod_cidr: str, *, bridge: str = "tug0", cni_bin: str = "/usr/lib/cni",
                 conf_dir: str = "/var/lib/tugboat/cni", cluster_cidr: str | None = None,
                 network_name: str = "tugboat", mtu: int | None = None):
        if len(bridge) > 15:
            raise ValueError(f"bridge name {bridge!r} is longer than 15 characters")
        self.pod_cidr = str(ipaddress.ip_network(pod_cidr, strict=False))
        self.bridge = bridge
        self.cni_bin = cni_bin
        self.conf_dir = conf_dir
        self.cluster_cidr = cluster_cidr
        self.network_name = network_name
        self.data_dir = os.path.join(conf_dir, "ipam")
        self.results_dir = os.path.join(conf_dir, "results")
        self.mtu = mtu
        self._ensured = False
        self._lock = asyncio.Lock()

    # ---- configuration ----
    def bridge_plugin(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "type": "bridge", "bridge": self.bridge, "isGateway": True, "isDefaultGateway": True,
            "ipMasq": False, "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_cidr}]], "dataDir": self.data_dir},
        }
        if self.mtu:
            conf["mtu"] = self.mtu
        return conf

    @staticmethod
    def portmap_plugin() -> dict[str, Any]:
        return {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}

    def conflist(self) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": self.network_name,
                "plugins": [self.bridge_plugin(), self.portmap_plugin()]}

    async def _ensure(self) -> None:
        async with self._lock:
            if self._ensured:
                return
            os.makedirs(self.results_dir, exist_ok=True)
            with open(os.path.join(self.conf_dir, f"10-{self.network_name}.conflist"), "wb") as f:
                f.write(orjson.dumps(self.conflist(), option=orjson.OPT_INDENT_2))
            await hostrules.ensure(self.bridge, self.pod_cidr, self.cluster_cidr)
            self._ensured = True

    # ---- per pod ----
    @staticmethod
    def port_mappings(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for p in ports:
            host_port = int(p.get("hostPort") or 0)
            if host_port <= 0:
                continue
            m: dict[str, Any] = {"hostPort": host_port, "containerPort": int(p["containerPort"]),
                                 "protocol": str(p.get("protocol") or "TCP").lower()}
            if p.get("hostIP"):
                m["hostIP"] = p["hostIP"]
            out.append(m)
        return out

    def _invocation(self, sandbox_id: str, netns: str, ports: list[dict[str, Any]],
                    pod: tuple[str, str] = ("", "")) -> Invocation:
        args = {"K8S_POD_INFRA_CONTAINER_ID": sandbox_id}
        if pod[1]:
            args.update(K8S_POD_NAMESPACE=pod[0], K8S_POD_NAME=pod[1])
        return Invocation(container_id=sandbox_id, netns=netns, args=args,
                          runtime_config={"portMappings": ports} if ports else {})

    def _chain(self, ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.bridge_plugin()] + ([self.portmap_plugin()] if ports else [])

    async def setup(self, sandbox_id: str, netns: str, *, port_mappings: list[dict[str, Any]] | None = None,
                    namespace: str = "", name: str = "") -> NetworkStatus:
        await self._ensure()
        ports = self.port_mappings(port_mappings or [])
        inv = self._invocation(sandbox_id, netns, ports, (namespace, name))
        lo = Invocation(container_id=sandbox_id, netns=netns, ifname="lo")
        lo_conf = {"type": "loopback", "name": self.network_name + "-lo", "cniVersion": "1.0.0"}
        try:
            results = await asyncio.gather(invoke(self.cni_bin, "ADD", lo_conf, lo),
                                           add_chain(self.cni_bin, self.network_name, self._chain(ports), inv))
            result: dict[str, Any] = results[1]
        except CNIError:
            await self.teardown(sandbox_id, netns, port_mappings=port_mappings)
            raise
        self._save(sandbox_id, {"netns": netns, "ports": ports, "result": result})
        return self._status(result)

    async def teardown(self, sandbox_id: str, netns: str = "", *,
                       port_mappings: list[dict[str, Any]] | None = None) -> None:
        cached = self._load(sandbox_id)
        ports = cached["ports"] if cached else self.port_mappings(port_mappings or [])
        netns = netns or (cached or {}).get("netns", "")
        inv = self._invocation(sandbox_id, netns if netns and os.path.exists(netns) else "", ports)
        chain = [self.bridge_plugin(), self.portmap_plugin()] if (ports or not cached) else self._chain(ports)
        errors = await del_chain(self.cni_bin, self.network_name, chain, inv, (cached or {}).get("result"))
        if errors:
            raise errors[0]
        try:
            os.unlink(self._result_path(sandbox_id))
        except FileNotFoundError:
            pass

    async def check(self, sandbox_id: str) -> None:
        cached = self._load(sandbox_id)
        if not cached:
            raise CNIError("bridge", "CHECK", 999, f"no network result cached for {sandbox_id}")
        inv = self._invocation(sandbox_id, cached["netns"], cached["ports"])
        # bridge only: portmap 1.1.1's CHECK fails on hosts without ip6tables chains (it
        # checks IPv6 DNAT even for IPv4-only results)
        await check_chain(self.cni_bin, self.network_name, [self.bridge_plugin()], inv, cached["result"])

    def status(self, sandbox_id: str) -> NetworkStatus | None:
        cached = self._load(sandbox_id)
        return self._status(cached["result"]) if cached else None

    async def destroy(self) -> None:
        """Tear down every pod still cached, then remove the bridge, the node-level chains
        and the IPAM/result state."""
        prefix = self.network_name + "-"
        for name in sorted(os.listdir(self.results_dir)) if os.path.isdir(self.results_dir) else []:
            if name.startswith(prefix) and name.endswith(".json"):
                try:
                    await self.teardown(name[len(prefix):-5])
                except CNIError:
                    pass
        proc = await asyncio.create_subprocess_exec("ip", "link", "del", self.bridge,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        await hostrules.remove(self.bridge, self.pod_cidr)
        await hostrules.remove_portmap_if_unused()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.results_dir, ignore_errors=True)
        try:
            os.unlink(os.path.join(self.conf_dir, f"10-{self.network_name}.conflist"))
        except FileNotFoundError:
            pass
        self._ensured = False

    # ---- result cache ----
    def _result_path(self, sandbox_id: str) -> str:
        return os.path.join(self.results_dir, f"{self.network_name}-{sandbox_id}.json")

    def _save(self, sandbox_id: str, data: dict[str, Any]) -> None:
        path = self._result_path(sandbox_id)
        with open(path + ".tmp", "wb") as f:
            f.write(orjson.dumps(data))
        os.replace(path + ".tmp", path)

    def _load(self, sandbox_id: str) -> dict[str, Any] | None:
        try:
            with open(self._result_path(sandbox_id), "rb") as f:
                data: dict[str, Any] = orjson.loads(f.read())
                return data
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None

    @staticmethod
    def _status(result: dict[str, Any]) -> NetworkStatus:
        for ip in result.get("ips") or []:
            iface = ip.get("interface")
            ifname = "eth0"
            if iface is not None and iface < len(result.get("interfaces") or []):
                ifname = result["interfaces"][iface].get("name", "eth0")
            net = ipaddress.ip_interface(ip["address"])
            if net.version == 4 or not result.get("ips"):
                return NetworkStatus(ip=str(net.ip), gateway=ip.get("gateway", ""),
                                     prefix_len=net.network.prefixlen, interface=ifname)
        return NetworkStatus(ip="")
