"""Services and cluster DNS seen from inside real pods: `tug proxy` + `tug dns` on a real node.

One real node (tests/e2e/realnode.py: registry, `tug server`, `tug agent` on runc + CNI) started
with `--cluster-dns 10.96.0.10`; next to it, as processes of this test:
- `tug proxy` for the same node name (host iptables, TUGBOAT-* chains, the unreachable route +
  policy rule for 10.96.0.0/12, ServiceLB), `--cluster-cidr` = the node's test pod CIDR;
- `tug dns` on the bridge gateway (the node address pods reach), port 53, forwarding to a FAKE
  upstream resolver on 127.0.0.2 run by this test (never a real resolver);
- the kube-dns Service at 10.96.0.10 with endpoints on the gateway (kube_dns_manifests), so
  pods' DNS goes VIP → proxy DNAT → `tug dns`.

Three busybox `httpd` pods each serve their own hostname behind the Services; a busybox client
pod runs `wget`/`nslookup` through `kubectl exec`. Every process is stopped by pid; the proxy
removes its chains and routes on SIGTERM and `tug proxy --cleanup` runs after it regardless;
route_localnet is put back as found.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from tests.dns.fakeupstream import fake_upstream
from tests.e2e.conftest import free_port
from tests.e2e.realnode import LoopThread, RealNode, real_node, skip_reason
from tugboat.dns.manifests import kube_dns_manifests
from tugboat.node.hostinfo import internal_ip

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok"),
              pytest.mark.timeout(240)]

DNS_VIP = "10.96.0.10"
SERVICE_CIDR = "10.96.0.0/12"
WEB = ("web-0", "web-1", "web-2")
UPSTREAM_A = "198.51.100.7"  # TEST-NET-2: only ever an answer, never contacted
ROUTE_LOCALNET = "/proc/sys/net/ipv4/conf/all/route_localnet"
REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


# ---- processes ----

def _tug(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "tugboat.cli.main", *args], stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO))


def _wait_line(proc: subprocess.Popen[bytes], log: Path, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"no {want!r} from {proc.args!r} in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


@dataclass
class Cluster:
    node: RealNode
    ns: str
    upstream: Any  # tests.dns.fakeupstream.FakeUpstream (serving on the LoopThread)
    proxy: subprocess.Popen[bytes] | None = None
    dns: subprocess.Popen[bytes] | None = None
    proxy_starts: int = 0
    pod_ips: dict[str, str] = field(default_factory=dict)

    @property
    def proxy_log(self) -> Path:
        return self.node.base / "proxy.log"

    def start_proxy(self) -> None:
        self.proxy_starts += 1
        with open(self.proxy_log, "ab") as f:
            f.write(f"---- proxy start #{self.proxy_starts} ----\n".encode())
        self.proxy = _tug(["proxy", "--kubeconfig", str(self.node.server.kubeconfig), "--node-name",
                           self.node.node_name, "--cluster-cidr", self.node.pod_cidr, "--service-cidr",
                           SERVICE_CIDR, "--log-level", "info"], self.proxy_log)
        want = "rules in sync"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the line of THIS start
            if want in self.proxy_log.read_text(errors="replace").rsplit("---- proxy start", 1)[-1]:
                return
            if self.proxy.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"tug proxy did not sync:\n{self.proxy_log.read_text(errors='replace')[-3000:]}")

    def start_dns(self) -> None:
        log = self.node.base / "dns.log"
        self.dns = _tug(["dns", "--kubeconfig", str(self.node.server.kubeconfig), "--listen",
                         f"{self.node.gateway}:53", "--upstream", f"127.0.0.2:{self.upstream.port}"], log)
        _wait_line(self.dns, log, "tug dns: serving")

    # ---- API ----
    def apply(self, *objs: dict[str, Any], ns: str | None = None) -> None:
        # a stream of JSON documents (kubectl's client-side validation of `kind: List` fails here)
        docs = "\n".join(orjson.dumps(o).decode() for o in objs)
        self.node.kubectl("-n", ns or self.ns, "create", "-f", "-", input=docs)

    def ready_slice_endpoints(self) -> dict[str, set[str]]:
        """Service name → the ready addresses of its EndpointSlices (the selector Services)."""
        out: dict[str, set[str]] = {}
        for sl in (self.node.get(f"/apis/discovery.k8s.io/v1/namespaces/{self.ns}/endpointslices") or {})["items"]:
            ready = out.setdefault(sl["metadata"]["labels"]["kubernetes.io/service-name"], set())
            for ep in sl.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready"):
                    ready.update(ep["addresses"])
        return out

    def service(self, name: str) -> dict[str, Any]:
        svc = self.node.get(f"/api/v1/namespaces/{self.ns}/services/{name}")
        assert svc is not None
        return svc

    # ---- inside the client pod ----
    def sh(self, script: str, pod: str = "client", check: bool = True, timeout: float = 60) -> str:
        p = self.node.kubectl("-n", self.ns, "exec", pod, "--", "sh", "-c", script, check=check, timeout=timeout)
        return p.stdout

    def fetch(self, url: str, n: int) -> Counter[str]:
        """`n` separate `wget`s (new connection, new DNS lookup each) → answer counts ("ERR" for failures).
        (`timeout`, not wget's own -T: Debian's busybox-static 1.35 wget segfaults with -T.)"""
        out = self.sh(f"for i in $(seq {n}); do timeout 3 wget -qO- {url} 2>/dev/null || echo ERR; done")
        return Counter(line.strip() for line in out.splitlines() if line.strip())

    def nslookup(self, *args: str) -> str:
        return self.sh("nslookup " + " ".join(args) + " 2>&1", check=False)


def eventually(fn: Callable[[], T], ok: Callable[[T], object] = bool, timeout: float = 30,
               what: str = "condition", every: float = 0.3) -> T:
    """Call `fn` until `ok(result)`; return that result (polling, never a blind sleep)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if ok(last):
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def addresses(nslookup_out: str) -> set[str]:
    """The IPv4 answers in busybox nslookup output (after the server's own lines)."""
    answers = nslookup_out.split("\n\n", 1)[-1]
    return set(re.findall(r"Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)(?!:|#)\s*$", answers, re.M))


def http_get(host: str, port: int, timeout: float = 2) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode().strip()
    finally:
        conn.close()


def try_get(host: str, port: int) -> str:
    try:
        return http_get(host, port)
    except OSError as e:
        return f"ERR {type(e).__name__}"


# ---- objects ----

def web_pod(name: str) -> dict[str, Any]:
    script = "mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "httpd", "image": "busybox", "command": ["sh", "-c", script],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]}, "periodSeconds": 1,
                                   "failureThreshold": 1, "successThreshold": 1}}]}}


def client_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


def svc(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "http"}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def _ready(p: dict[str, Any] | None) -> bool:
    for c in ((p or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == "Ready":
            return bool(c["status"] == "True")
    return False


# ---- the fixture ----

@contextlib.contextmanager
def _host_proxy_lock() -> Iterator[None]:
    """One host-wide `tug proxy` at a time: two would delete each other's chains. The lock is
    on this file (nothing is left behind), so runs of this module from one tree take turns."""
    with open(__file__) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # its own agent port (another real node may hold 10250), on the node address the API server dials
    agent_args = ["--cluster-dns", DNS_VIP, "--port", str(free_port()), "--address", internal_ip(),
                  "--node-ip", internal_ip()]
    left_by_proxy: list[str] = []
    with _host_proxy_lock(), real_node(agent_args=agent_args, own_netns_only=True) as node:
        localnet = Path(ROUTE_LOCALNET).read_text()
        lt = LoopThread()
        up_cm = fake_upstream()
        c: Cluster | None = None
        try:
            upstream = lt.run(up_cm.__aenter__())
            upstream.add("svc.upstream.test", "A", 30, UPSTREAM_A)
            upstream.add("www.upstream.test", "A", 30, "198.51.100.8")
            c = Cluster(node=node, ns=node.new_namespace(), upstream=upstream)
            c.start_proxy()
            c.apply(*kube_dns_manifests(DNS_VIP, node_ip=node.gateway), ns="kube-system")
            pods = [web_pod(n) for n in WEB] + [client_pod()]
            for p in pods:
                p["spec"]["nodeName"] = node.node_name
            c.apply(*pods)
            for p in pods:
                name = p["metadata"]["name"]
                got = node.wait_pod(c.ns, name, _ready, timeout=90, what="Ready")
                c.pod_ips[name] = got["status"]["podIP"]
            c.start_dns()  # the gateway address exists once the first pod is on the bridge
            c.apply(svc("web"),
                    svc("web-headless", clusterIP="None", ports=[{"name": "http", "port": 8080}]),
                    svc("web-np", type="NodePort"),
                    svc("web-lb", type="LoadBalancer", ports=[{"name": "http", "port": 18080, "targetPort": "http"}]),
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                     "spec": {"type": "ExternalName", "externalName": "svc.upstream.test"}})
            yield c
        finally:
            try:
                if c is not None:
                    _stop(c.dns)
                    if c.proxy is not None and c.proxy.poll() is None:
                        _stop(c.proxy)  # SIGTERM: the proxy removes its chains, routes and sysctl itself
                        left_by_proxy = _proxy_leftovers()
                        if Path(ROUTE_LOCALNET).read_text() != localnet:
                            left_by_proxy.append(f"route_localnet {Path(ROUTE_LOCALNET).read_text().strip()}")
            finally:
                subprocess.run([sys.executable, "-m", "tugboat.cli.main", "proxy", "--cleanup", "--service-cidr",
                                SERVICE_CIDR], capture_output=True, cwd=str(REPO), timeout=60)
                Path(ROUTE_LOCALNET).write_text(localnet)
                with contextlib.suppress(Exception):
                    lt.run(up_cm.__aexit__(None, None, None), timeout=10)
                lt.close()
    assert not left_by_proxy, f"the stopped proxy left things on the host: {left_by_proxy}"
    left = _proxy_leftovers()
    assert not left, f"the service proxy left things on the host even after tug proxy --cleanup: {left}"


def _proxy_leftovers() -> list[str]:
    out = []
    for table in ("nat", "filter"):
        rules = subprocess.run(["iptables", "-w", "5", "-t", table, "-S"], capture_output=True, text=True).stdout
        out += [f"{table}: {r}" for r in rules.splitlines() if re.search(r"TUGBOAT-(SERVICES|SVC|SEP|NODEPORTS|EXT|"
                                                                          r"POSTROUTING|MARK|FORWARD|FIREWALL)", r)]
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    out += [f"route {r}" for r in routes.splitlines() if SERVICE_CIDR in r]
    rules = subprocess.run(["ip", "-4", "rule"], capture_output=True, text=True).stdout
    out += [f"rule {r}" for r in rules.splitlines() if SERVICE_CIDR in r]
    return out


# ---- tests ----

def test_cluster_ip_by_dns_name_reaches_every_replica(cluster: Cluster) -> None:
    fqdn = f"web.{cluster.ns}.svc.cluster.local"
    vip = cluster.service("web")["spec"]["clusterIP"]
    resolv = cluster.sh("cat /etc/resolv.conf")
    assert f"nameserver {DNS_VIP}" in resolv
    assert f"search {cluster.ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "ndots:5" in resolv
    eventually(lambda: addresses(cluster.nslookup(fqdn)) == {vip}, what=f"{fqdn} → {vip}")
    eventually(lambda: set(cluster.fetch(f"http://{fqdn}", 1)) <= set(WEB), what="first answer through the VIP")
    got = cluster.fetch(f"http://{fqdn}", 24)
    assert set(got) == set(WEB), got  # random spread: P(a replica missed in 24) ≈ 2e-4
    short = cluster.fetch("http://web", 18)  # the search path makes `web` the namespace's Service
    assert set(short) <= set(WEB) and len(short) >= 2, short  # no failures, and spread


def test_unready_pod_gets_no_traffic(cluster: Cluster) -> None:
    url = f"http://web.{cluster.ns}.svc.cluster.local"
    eventually(lambda: set(cluster.fetch(url, 1)) <= set(WEB), what="service answering")
    cluster.sh("rm /tmp/ready", pod="web-1")
    try:
        cluster.node.wait_pod(cluster.ns, "web-1", lambda p: not _ready(p), timeout=20, what="web-1 unready")
        # the endpoint goes unready, the proxy drops it: only web-0 and web-2 answer
        eventually(lambda: "web-1" not in cluster.fetch(url, 12), what="web-1 out of rotation")
        got = cluster.fetch(url, 24)
        assert set(got) == {"web-0", "web-2"}, got
    finally:
        cluster.sh("touch /tmp/ready", pod="web-1")
    cluster.node.wait_pod(cluster.ns, "web-1", _ready, timeout=20, what="web-1 ready again")
    eventually(lambda: "web-1" in cluster.fetch(url, 12), what="web-1 back in rotation")
    # every Service's slice has it back before the next test (the controller does them one by one)
    eventually(cluster.ready_slice_endpoints, lambda eps: all(len(v) == 3 for v in eps.values()),
               what="all slices with 3 ready endpoints")


def test_headless_service_returns_every_ready_pod_and_srv_carries_ports(cluster: Cluster) -> None:
    web_ips = {cluster.pod_ips[n] for n in WEB}
    out = eventually(lambda: cluster.nslookup("web-headless"), lambda o: addresses(o) == web_ips,
                     what="headless A records")
    assert f"web-headless.{cluster.ns}.svc.cluster.local" in out
    # SRV for the named port (busybox nslookup supports -type=SRV)
    srv = cluster.nslookup("-type=SRV", f"_http._tcp.web.{cluster.ns}.svc.cluster.local")
    assert re.search(rf"service = \d+ \d+ 80 web\.{cluster.ns}\.svc\.cluster\.local", srv), srv
    srv = cluster.nslookup("-type=SRV", f"_http._tcp.web-headless.{cluster.ns}.svc.cluster.local")
    targets = re.findall(rf"service = \d+ \d+ 8080 (\S+)\.web-headless\.{cluster.ns}\.svc\.cluster\.local", srv)
    assert sorted(targets) == sorted(ip.replace(".", "-") for ip in web_ips), srv
    # unknown names in the cluster domain are NXDOMAIN
    missing = cluster.nslookup(f"nope.{cluster.ns}.svc.cluster.local.")
    assert "NXDOMAIN" in missing and not addresses(missing), missing


def test_nodeport_from_the_host(cluster: Cluster) -> None:
    port = cluster.service("web-np")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    for host in ("127.0.0.1", cluster.node.gateway):
        eventually(lambda h=host: try_get(h, port) in WEB, what=f"NodePort {host}:{port}")  # type: ignore[misc]
    seen = Counter(http_get("127.0.0.1", port) for _ in range(24))
    assert set(seen) == set(WEB), seen


def test_load_balancer_gets_node_address_and_it_works(cluster: Cluster) -> None:
    node = cluster.node.get(f"/api/v1/nodes/{cluster.node.node_name}") or {}
    internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
    lb = eventually(lambda: (cluster.service("web-lb").get("status") or {}).get("loadBalancer", {}).get("ingress"),
                    what="status.loadBalancer.ingress")
    assert lb == [{"ip": internal[0]}]
    ip = lb[0]["ip"]
    # from a pod, and from the node itself (the address is the node's own: nothing leaves the host)
    eventually(lambda: set(cluster.fetch(f"http://{ip}:18080", 1)) <= set(WEB), what="LB address from a pod")
    got = cluster.fetch(f"http://{ip}:18080", 12)
    assert set(got) <= set(WEB) and len(got) >= 2, got  # no failures, and spread
    assert try_get(ip, 18080) in WEB


def test_external_name_is_a_cname_and_other_names_go_to_the_upstream(cluster: Cluster) -> None:
    out = eventually(lambda: cluster.nslookup("ext"), lambda o: "svc.upstream.test" in o, what="ExternalName answer")
    assert re.search(rf"ext\.{cluster.ns}\.svc\.cluster\.local\s+canonical name = svc\.upstream\.test", out), out
    assert UPSTREAM_A in addresses(out), out  # the CNAME target, resolved through the upstream
    before = cluster.upstream.queries[("udp", "www.upstream.test.")]
    out = cluster.nslookup("www.upstream.test.")
    assert "198.51.100.8" in addresses(out), out
    assert cluster.upstream.queries[("udp", "www.upstream.test.")] > before  # the fake upstream was asked


def test_proxy_killed_and_restarted_rebuilds_rules(cluster: Cluster) -> None:
    url = f"http://web.{cluster.ns}.svc.cluster.local"
    np_port = cluster.service("web-np")["spec"]["ports"][0]["nodePort"]
    eventually(lambda: try_get("127.0.0.1", np_port) in WEB, what="NodePort before")
    _stop(cluster.proxy, signal.SIGKILL)
    # while it is dead: a new Service, a deleted one; the kernel keeps the old rules
    cluster.apply(svc("web-late"))
    cluster.node.kubectl("-n", cluster.ns, "delete", "service", "web-np")
    late_vip = cluster.service("web-late")["spec"]["clusterIP"]
    assert set(cluster.fetch(url, 3)) <= set(WEB)
    assert cluster.fetch(f"http://{late_vip}", 1) == Counter({"ERR": 1})  # not programmed: never leaves the node
    cluster.start_proxy()
    eventually(lambda: set(cluster.fetch(f"http://{late_vip}", 1)) <= set(WEB), what="new Service after restart")
    assert set(cluster.fetch(f"http://web-late.{cluster.ns}.svc.cluster.local", 12)) <= set(WEB)
    assert set(cluster.fetch(url, 6)) <= set(WEB)
    assert try_get("127.0.0.1", np_port).startswith("ERR")  # the deleted NodePort's rules are gone
    assert "rules in sync" in cluster.proxy_log.read_text().rsplit("---- proxy start", 1)[-1]


def test_dns_policy_none_writes_the_pod_dns_config_and_warns_about_cut_nameservers(cluster: Cluster) -> None:
    servers = ["10.96.0.10", "203.0.113.53", "203.0.113.54", "203.0.113.55"]  # one more than resolv.conf may carry
    pod = client_pod()
    pod["metadata"]["name"] = "dns-none"
    pod["spec"].update(nodeName=cluster.node.node_name, dnsPolicy="None", dnsConfig={
        "nameservers": servers, "searches": ["example.test"], "options": [{"name": "ndots", "value": "2"}]})
    cluster.apply(pod)
    cluster.node.wait_pod(cluster.ns, "dns-none", _ready, what="Ready")
    resolv = cluster.sh("cat /etc/resolv.conf", pod="dns-none")
    assert [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")] == servers[:3]
    assert "search example.test" in resolv and "options ndots:2" in resolv
    events = [(e["type"], e["reason"], e["message"]) for e in cluster.node.events(cluster.ns, "dns-none")]
    assert ("Warning", "DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been omitted, "
            "the applied nameserver line is: 10.96.0.10 203.0.113.53 203.0.113.54") in events, events
    cluster.node.kubectl("-n", cluster.ns, "delete", "pod", "dns-none", "--wait=false")
