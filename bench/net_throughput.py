"""Pod network across nodes: throughput and latency through a Service VIP vs the pod IP, and DNS.

Two real nodes (tests/e2e/multinode.py: one `tug server`, two agents in their own network
namespaces with host-gw routes, a `tug proxy` each, `tug dns`). A busybox server pod on node 1,
a busybox client pod on node 0; all timing happens inside the client pod (busybox `time`), so
`kubectl exec` costs are not counted:
- throughput: the client reads STREAM_MB MiB of zeros (`dd` behind `nc -e` on both ends, 1 MiB
  reads and writes) from the server, straight to the
  pod IP and through the ClusterIP (DNAT by the node's iptables), ROUNDS alternating rounds,
  best of each, and the VIP's cost as the median of the paired rounds' ratios (target < 5 %);
- latency: REQUESTS sequential `wget` of a 4-byte page, pod IP vs VIP (each request is a new
  process + TCP connection: the figure is per request, not per packet);
- DNS: LOOKUPS sequential `nslookup` of the Service's fully qualified name (trailing dot: no
  search-path tries) from the pod (one process per lookup) through the kube-dns VIP to `tug dns`.

Needs root, runc, the CNI plugins, nsenter and docker-registry; everything is removed at the
end (the fixture checks the host). Run: .venv/bin/python -m bench.net_throughput
"""

from __future__ import annotations

import re
import statistics
from typing import Any

Row = tuple[str, str, str, str, str]
STREAM_MB = 2048
ROUNDS = 7
REQUESTS = 200
LOOKUPS = 500
_REAL = re.compile(r"real\s+(\d+)m\s*([\d.]+)s")


def _pod(name: str, node: str, labels: dict[str, str], script: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}}


SERVER = ("mkdir -p /www && echo web > /www/index.html && httpd -p 8080 -h /www && "
          f"exec nc -ll -p 9000 -e dd if=/dev/zero bs=1M count={STREAM_MB}")


def _timed(c: Any, ns: str, script: str) -> float:
    """Seconds of `script` run in the client pod, measured there."""
    out = c.kubectl("-n", ns, "exec", "client", "--", "sh", "-c", f"time sh -c '{script}' 2>&1", timeout=300)
    m = _REAL.search(out.stdout + out.stderr)
    if not m:
        raise RuntimeError(f"no timing in {out.stdout!r} {out.stderr!r}")
    return int(m.group(1)) * 60 + float(m.group(2))


def run() -> list[Row]:
    from tests.e2e.multinode import multi_node, multinode_skip_reason, wait_for
    from tests.e2e.test_multinode_network import running

    reason = multinode_skip_reason()
    if reason:
        return [("pod network across nodes", "skipped", "", "", reason)]
    rows: list[Row] = []
    with multi_node(n=2) as c:
        ns = c.new_namespace()
        c.create(_pod("server", c.nodes[1].name, {"app": "server"}, SERVER),
                 _pod("client", c.nodes[0].name, {"app": "client"}, "sleep 100000"), ns=ns)
        c.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "server"},
                  "spec": {"selector": {"app": "server"}, "ports": [{"name": "stream", "port": 9000},
                                                                    {"name": "http", "port": 80,
                                                                     "targetPort": 8080}]}}, ns=ns)
        ip = c.wait_pod(ns, "server", running)["status"]["podIP"]
        c.wait_pod(ns, "client", running)
        vip = c.get("-n", ns, "service", "server")["spec"]["clusterIP"]
        wait_for(lambda: c.kubectl("-n", ns, "exec", "client", "--", "timeout", "5", "wget", "-qO-",
                                   f"http://{vip}/", check=False).stdout.strip() == "web", 60, "VIP serving")
        stream = "nc {} 9000 -e dd of=/dev/null bs=1M"  # each connection: STREAM_MB MiB of zeros
        best = {"pod IP": 0.0, "VIP": 0.0}
        ratios = []
        pair = [("pod IP", ip), ("VIP", vip)]
        for r in range(ROUNDS):  # paired rounds (order alternating): the VIP's cost is the median ratio
            got = {label: STREAM_MB / _timed(c, ns, stream.format(target))
                   for label, target in (pair if r % 2 == 0 else pair[::-1])}
            ratios.append(got["VIP"] / got["pod IP"])
            best = {k: max(best[k], got[k]) for k in best}
        cost = 100.0 * (1 - statistics.median(ratios))
        rows.append(("TCP stream across nodes, direct to the pod IP", f"{best['pod IP']:.0f}", "MiB/s",
                     "", f"best of {ROUNDS}, {STREAM_MB} MiB each, busybox nc + dd"))
        rows.append(("TCP stream across nodes, through the ClusterIP", f"{best['VIP']:.0f}", "MiB/s",
                     f"pod IP {best['pod IP']:.0f} MiB/s; VIP cost {cost:.1f} % (median of paired rounds; target < 5 %)", "same run"))
        per: dict[str, list[float]] = {"pod IP": [], "VIP": []}
        for r in range(ROUNDS + 1):  # round 0 warms up (ARP, conntrack, page cache)
            urls = [("pod IP", f"http://{ip}:8080/"), ("VIP", f"http://{vip}/")]
            for label, url in (urls if r % 2 == 0 else urls[::-1]):
                secs = _timed(c, ns, f"for i in $(seq {REQUESTS}); do wget -qO- {url} > /dev/null; done")
                if r:
                    per[label].append(1000.0 * secs / REQUESTS)
        med = {k: statistics.median(v) for k, v in per.items()}
        rows.append(("HTTP request across nodes (new wget + connection each), pod IP", f"{med['pod IP']:.2f}", "ms",
                     "", f"median of {ROUNDS} rounds of {REQUESTS} sequential"))
        rows.append(("HTTP request across nodes (new wget + connection each), ClusterIP", f"{med['VIP']:.2f}",
                     "ms", f"pod IP {med['pod IP']:.2f} ms", "same run"))
        secs = _timed(c, ns, f"for i in $(seq {LOOKUPS}); do nslookup server.{ns}.svc.cluster.local. "
                             "> /dev/null; done")
        rows.append(("DNS lookups from a pod (one nslookup process each)", f"{LOOKUPS / secs:.0f}", "lookups/s",
                     "", f"{1000 * secs / LOOKUPS:.2f} ms each, via the kube-dns VIP"))
    return rows


if __name__ == "__main__":
    for r in run():
        print(" | ".join(r))
