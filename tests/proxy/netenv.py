"""A throw-away "node" for proxy tests, built from network namespaces this test run owns.

  node netns   the proxy's host: bridge `br0` 10.244.77.1/24 (the pod network), `ve0`
               192.168.231.1/24 (the node's address), ip_forward on; the proxy's iptables,
               routes and sysctls all live here, so the machine's own tables are never touched
  pod netns    p1 p2 p3 (TCP servers answering "<name> <peer ip>") and c (a client pod),
               each with eth0 on br0 and a default route via 10.244.77.1
  ext netns    an off-cluster client on 192.168.231.2/24, for NodePort / LoadBalancer traffic

Every name carries a random tag; `close()` kills the servers by pid and deletes the netns
(which takes their veths, bridge, routes, sysctls and iptables with them).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys

NODE_IP = "192.168.231.1"
EXT_IP = "192.168.231.2"
GATEWAY = "10.244.77.1"
PODS = {"p1": "10.244.77.11", "p2": "10.244.77.12", "p3": "10.244.77.13", "c": "10.244.77.20"}
SERVER_PORT = 8080

_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    try:
        c.sendall(f"{sys.argv[1]} {peer[0]}\\n".encode())
    finally:
        c.close()
"""

_CLIENT = """
import errno, socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    c = socket.socket(); c.settimeout(float(sys.argv[4]))
    try:
        c.connect((ip, port)); print(c.makefile().readline().strip(), flush=True)
    except socket.timeout:
        print("ERR:TIMEOUT", flush=True)
    except OSError as e:
        print("ERR:" + errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    finally:
        c.close()
"""


def sh(*cmd: str, check: bool = True) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {res.stderr.strip()}")
    return res.stdout


class NetEnv:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.node = f"tgpx{self.tag}-node"
        self.ext = f"tgpx{self.tag}-ext"
        self.pods = {name: f"tgpx{self.tag}-{name}" for name in PODS}
        self.servers: list[subprocess.Popen[str]] = []

    def ns(self, *cmd: str, ns: str | None = None, check: bool = True) -> str:
        return sh("ip", "netns", "exec", ns or self.node, *cmd, check=check)

    def setup(self) -> None:
        for ns in (self.node, self.ext, *self.pods.values()):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.ns("sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", self.node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.node, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        sh("ip", "-n", self.node, "link", "set", "br0", "up")
        for name, ns in self.pods.items():
            sh("ip", "link", "add", f"v{name}", "netns", self.node, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.node, "link", "set", f"v{name}", "master", "br0", "up")
            # like the CNI bridge's hairpinMode (the node agent sets it): a pod reaching itself
            # through a VIP gets its packet back out of the port it came in on
            sh("ip", "-n", self.node, "link", "set", f"v{name}", "type", "bridge_slave", "hairpin", "on")
            sh("ip", "-n", ns, "addr", "add", f"{PODS[name]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", GATEWAY)
        sh("ip", "link", "add", "ve0", "netns", self.node, "type", "veth", "peer", "name", "eth0", "netns", self.ext)
        sh("ip", "-n", self.node, "addr", "add", f"{NODE_IP}/24", "dev", "ve0")
        sh("ip", "-n", self.node, "link", "set", "ve0", "up")
        sh("ip", "-n", self.ext, "addr", "add", f"{EXT_IP}/24", "dev", "eth0")
        sh("ip", "-n", self.ext, "link", "set", "eth0", "up")

    def start_servers(self, names: tuple[str, ...] = ("p1", "p2", "p3")) -> None:
        for name in names:
            p = subprocess.Popen(["ip", "netns", "exec", self.pods[name], sys.executable, "-c", _SERVER, name,
                                  str(SERVER_PORT)], stdout=subprocess.PIPE, text=True)
            self.servers.append(p)
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    async def connect(self, ip: str, port: int, n: int = 1, *, frm: str = "c", timeout: float = 1.0) -> list[str]:
        """n fresh TCP connections from netns `frm` (a pod name, "ext" or "node"): the first
        word each server sent ("p1"…), or "ERR:<errno>"."""
        ns = self.ext if frm == "ext" else self.node if frm == "node" else self.pods[frm]
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT, ip, str(port), str(n), str(timeout),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out.decode().split("\n")[:-1]

    def close(self) -> None:
        for p in self.servers:
            p.kill()
            p.wait()
        for ns in (self.node, self.ext, *self.pods.values()):
            sh("ip", "netns", "del", ns, check=False)
