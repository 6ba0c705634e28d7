"""The self-healing promise, timed (issue 6): node failure → replacement Running, and HPA
reaction from load start → new replicas Ready, on a three-node cluster on this machine.

Same setup as tests/e2e/test_promise.py (nodes as network namespaces that joined with the
join token, real runc containers), with the fast-failover settings: node-monitor grace 10 s
and 5 s not-ready/unreachable toleration, so the floor for replacement is about 15 s plus
the pod start; the HPA syncs every 5 s and the metrics API keeps node stats for 15 s.
"""

from __future__ import annotations

import time
from typing import Any

Row = tuple[str, str, str, str, str]


def run() -> list[Row]:
    from tests.e2e.multinode import multi_node, multinode_skip_reason, wait_for
    from tests.e2e.test_promise import FAST_FAILOVER, _client, _running, _web

    reason = multinode_skip_reason()
    if reason:
        return [("self-healing promise", "skipped", "", "", reason)]
    rows: list[Row] = []
    with multi_node(n=3, server_args=FAST_FAILOVER, join=True) as c:
        ns = c.new_namespace()
        c.create(*_web(), _client("client"), ns=ns)
        c.kubectl("-n", ns, "rollout", "status", "deploy/web", "--timeout=180s", timeout=200)

        def web_pods() -> list[dict[str, Any]]:
            items = (c.get("-n", ns, "pods", "-l", "app=web") or {}).get("items") or []
            return [p for p in items if not p["metadata"].get("deletionTimestamp")]

        client_node = c.wait_pod(ns, "client", _running)["spec"]["nodeName"]
        lost = next(i for i, nd in enumerate(c.nodes) if nd.name != client_node
                    and any(p["spec"]["nodeName"] == nd.name for p in web_pods()))
        name = c.nodes[lost].name
        c.stop_agent(lost)
        c.cut_off(lost)
        t0 = time.monotonic()
        wait_for(lambda: len(web_pods()) == 3 and all(p["spec"].get("nodeName") != name and _running(p)
                                                      for p in web_pods()), 120, "replacement Running")
        rows.append(("node failure → replacement pods Running (fast failover)", f"{time.monotonic() - t0:.1f}", "s",
                     "target ≤ 30 s; 10 s grace after the last lease renewal + 5 s toleration", "agent stopped + link cut"))
        c.reconnect(lost)
        c.start_agent(lost)

        c.kubectl("-n", ns, "autoscale", "deployment", "web", "--cpu-percent=50", "--min=3", "--max=6")
        time.sleep(10)  # the HPA has seen the idle replicas once
        for i in range(3):
            pod = _client(f"load-{i}")
            pod["spec"]["containers"][0]["command"] = [
                "sh", "-c", f"while true; do wget -qO- http://web.{ns}.svc.cluster.local/cgi-bin/burn >/dev/null; done"]
            c.create(pod, ns=ns)
        t0 = time.monotonic()
        wait_for(lambda: int(((c.get("-n", ns, "deploy", "web") or {}).get("status") or {})
                             .get("readyReplicas", 0)) > 3, 300, "new replicas Ready")
        rows.append(("HPA: load start → new replicas Ready", f"{time.monotonic() - t0:.1f}", "s",
                     "HPA sync 5 s + 15 s metrics window + pod start", "3 wget loops on a CPU-burning CGI"))
        for i in range(3):
            c.kubectl("-n", ns, "delete", "pod", f"load-{i}", "--wait=false")
        c.kubectl("-n", ns, "delete", "hpa,deployment", "--all")
    return rows


if __name__ == "__main__":
    for r in run():
        print(" | ".join(r))
