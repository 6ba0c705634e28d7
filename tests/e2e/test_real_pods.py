"""Real pods end to end: `tug server` + `tug agent` (runc, CNI) + a local registry + kubectl.

Every test creates its pods with the real kubectl in its own namespace on one real node
(tests/e2e/realnode.py) and checks what a user relies on: the pod's status as the API shows
it, and the host itself (processes found by runc's state, log files under the agent's data
dir, namespaces, veths, mounts, cgroups). Skipped when not root or runc/CNI are missing.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.realnode import Pod, RealNode, real_node, skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok"),
              pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def node() -> Iterator[RealNode]:
    with real_node(own_netns_only=True) as n:  # other real-node runs on the host are not ours to judge
        yield n


@pytest.fixture
def ns(node: RealNode) -> str:
    return node.new_namespace()


# ---- helpers ----

def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2, **spec, "containers": list(containers)}}


def sh(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def phase(p: Pod) -> str:
    return str((p.get("status") or {}).get("phase", ""))


def running(p: Pod) -> bool:
    return phase(p) == "Running"


def cstatus(p: Pod, name: str, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for c in (p.get("status") or {}).get(key) or []:
        if c["name"] == name:
            return dict(c)
    return {}


def condition(p: Pod, typ: str) -> str:
    for c in (p.get("status") or {}).get("conditions") or []:
        if c["type"] == typ:
            return str(c["status"])
    return ""


def log_lines(node: RealNode, p: Pod, container: str, attempt: int = 0) -> list[str]:
    """The container's output from its CRI log file (`<time> <stream> <F|P> <line>`)."""
    try:
        text = node.log_file(p, container, attempt).read_text()
    except FileNotFoundError:
        return []
    return [line.split(" ", 3)[3] for line in text.splitlines() if line.count(" ") >= 3]


def wait_log(node: RealNode, p: Pod, container: str, want: str, timeout: float = 30, attempt: int = 0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(node, p, container, attempt)
        if want in lines:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{want!r} not in the log of {container}: {log_lines(node, p, container, attempt)}")


def _uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---- tests ----

def test_busybox_pod_runs_with_status_process_and_log(node: RealNode, ns: str) -> None:
    node.create(ns, pod("bb", sh("main", "echo hello from $(hostname); sleep 1000")))
    p = node.wait_pod(ns, "bb", lambda p: running(p) and cstatus(p, "main").get("ready"), what="Running")
    st = p["status"]
    assert ipaddress.ip_address(st["podIP"]) in ipaddress.ip_network(node.pod_cidr)
    assert st["podIPs"] == [{"ip": st["podIP"]}] and st["hostIP"]
    assert st["qosClass"] == "BestEffort"
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "PodScheduled": "True", "PodReadyToStartContainers": "True", "Initialized": "True",
        "ContainersReady": "True", "Ready": "True"}
    cs = cstatus(p, "main")
    assert cs["imageID"] == f"docker.io/library/busybox@{node.busybox_digest}"  # as containerd reports it
    assert cs["image"] == "docker.io/library/busybox:latest"  # the image the runtime used, fully qualified
    assert cs["containerID"].startswith("tugboat://") and cs["restartCount"] == 0 and cs["started"] is True
    assert "running" in cs["state"]
    # the process runs: runc knows the container and its init pid is a live busybox
    state = node.runc_state(cs["containerID"])
    assert state is not None and state["status"] == "running"
    pid = state["pid"]
    assert pid == node.container_record(cs["containerID"])["init_pid"]
    assert os.readlink(f"/proc/{pid}/exe").endswith("busybox")
    assert Path(f"/proc/{pid}/ns/net").resolve() != Path("/proc/self/ns/net").resolve()
    # stdout reaches the CRI log file, hostname is the pod name
    wait_log(node, p, "main", "hello from bb")
    events = {e["reason"] for e in node.events(ns, "bb")}
    assert {"Pulling", "Pulled", "Created", "Started"} <= events
    table = node.kubectl("-n", ns, "get", "pod", "bb", "-o", "wide").stdout
    assert "Running" in table and st["podIP"] in table and node.node_name in table


def test_crashing_container_backs_off_with_growing_delays(node: RealNode, ns: str) -> None:
    node.create(ns, pod("crash", sh("c", "echo crashing; exit 1")))
    # first exit → immediate restart; second → 10 s back-off shown as CrashLoopBackOff
    p = node.wait_pod(ns, "crash", lambda p: cstatus(p, "c").get("restartCount", 0) >= 1
                      and (cstatus(p, "c").get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff",
                      timeout=30, what="CrashLoopBackOff")
    cs = cstatus(p, "c")
    assert "back-off 10s restarting failed container=c" in cs["state"]["waiting"]["message"]
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["ready"] is False and condition(p, "Ready") == "False"
    first_finish = ts(cs["lastState"]["terminated"]["finishedAt"])
    count = cs["restartCount"]
    p = node.wait_pod(ns, "crash", lambda p: cstatus(p, "c").get("restartCount", 0) > count
                      and "back-off 20s" in str(cstatus(p, "c").get("state")), timeout=30, what="second back-off")
    cs = cstatus(p, "c")
    restarted = ts(cs["lastState"]["terminated"]["startedAt"])
    assert restarted - first_finish >= 9, "the second restart waited the 10 s back-off"
    assert "BackOff" in {e["reason"] for e in node.events(ns, "crash")}
    assert "CrashLoopBackOff" in node.kubectl("-n", ns, "get", "pod", "crash").stdout
    assert log_lines(node, p, "c", cs["restartCount"] - 1) == ["crashing"]


def test_liveness_failure_restarts_and_readiness_failure_clears_ready(node: RealNode, ns: str) -> None:
    probe = {"periodSeconds": 1, "failureThreshold": 1}
    live = sh("live", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 1000",
              livenessProbe={"exec": {"command": ["test", "-e", "/tmp/healthy"]}, **probe})
    ready = sh("ready", "touch /tmp/ready; sleep 3; rm /tmp/ready; sleep 1000",
               readinessProbe={"exec": {"command": ["test", "-e", "/tmp/ready"]}, **probe})
    web = {"name": "web", "image": "busybox", "command": ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
           "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1}}
    node.create(ns, pod("probes", live, ready, web, restartPolicy="Always"))
    node.wait_pod(ns, "probes", lambda p: condition(p, "Ready") == "True", timeout=30, what="Ready")
    p = node.wait_pod(ns, "probes", lambda p: not cstatus(p, "ready").get("ready", True)
                      and condition(p, "Ready") == "False", timeout=30, what="readiness failure")
    assert cstatus(p, "ready")["restartCount"] == 0 and "running" in cstatus(p, "ready")["state"]
    assert cstatus(p, "web")["ready"] is True, "httpGet readiness against busybox httpd passes"
    assert condition(p, "ContainersReady") == "False"
    p = node.wait_pod(ns, "probes", lambda p: cstatus(p, "live").get("restartCount", 0) >= 1, timeout=30,
                      what="liveness restart")
    last = cstatus(p, "live")["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    msgs = [e["message"] for e in node.events(ns, "probes")]
    assert any(m.startswith("Liveness probe failed") for m in msgs)
    assert any(m.startswith("Readiness probe failed") for m in msgs)
    assert any("failed liveness probe, will be restarted" in m for m in msgs)


def test_memory_hog_is_oomkilled(node: RealNode, ns: str) -> None:
    hog = sh("hog", "echo start; x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived; sleep 1000",
             resources={"limits": {"memory": "32Mi"}})
    node.create(ns, pod("hog", hog))
    p = node.wait_pod(ns, "hog", lambda p: (cstatus(p, "hog").get("lastState") or {}).get("terminated"),
                      timeout=30, what="terminated")
    term = cstatus(p, "hog")["lastState"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    assert p["status"]["qosClass"] == "Burstable"
    assert "survived" not in log_lines(node, p, "hog", 0)


def test_init_containers_run_in_order_and_gate_the_app(node: RealNode, ns: str) -> None:
    vol = [{"name": "work", "mountPath": "/work"}]
    spec = pod("init", sh("app", "cat /work/order; sleep 1000", volumeMounts=vol),
               initContainers=[sh("first", "sleep 2; echo one >> /work/order", volumeMounts=vol),
                               sh("second", "echo two >> /work/order", volumeMounts=vol)],
               volumes=[{"name": "work", "emptyDir": {}}])
    node.create(ns, spec)
    p = node.wait_pod(ns, "init", lambda p: "running" in cstatus(p, "first", init=True).get("state", {}),
                      what="first init container running")
    assert condition(p, "Initialized") == "False" and phase(p) == "Pending"
    assert cstatus(p, "second", init=True)["state"]["waiting"]["reason"] == "PodInitializing"
    assert cstatus(p, "app")["state"]["waiting"]["reason"] == "PodInitializing"
    assert "Init:0/2" in node.kubectl("-n", ns, "get", "pod", "init").stdout
    p = node.wait_pod(ns, "init", running, what="Running")
    first, second = (cstatus(p, n, init=True)["state"]["terminated"] for n in ("first", "second"))
    assert first["reason"] == second["reason"] == "Completed"
    assert ts(first["finishedAt"]) <= ts(second["startedAt"])
    assert ts(second["finishedAt"]) <= ts(cstatus(p, "app")["state"]["running"]["startedAt"])
    assert condition(p, "Initialized") == "True"
    assert wait_log(node, p, "app", "two")[:2] == ["one", "two"]


def test_configmap_and_secret_volumes_carry_data_and_updates(node: RealNode, ns: str) -> None:
    node.kubectl("-n", ns, "create", "configmap", "cfg", "--from-literal=greeting=hello")
    node.kubectl("-n", ns, "create", "secret", "generic", "sec", "--from-literal=password=s3cret")
    script = "while true; do echo cfg=$(cat /cfg/greeting) sec=$(cat /sec/password); sleep 0.5; done"
    node.create(ns, pod("vols", sh("c", script, volumeMounts=[{"name": "cfg", "mountPath": "/cfg"},
                                                              {"name": "sec", "mountPath": "/sec"}]),
                        volumes=[{"name": "cfg", "configMap": {"name": "cfg"}},
                                 {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}}]))
    p = node.wait_pod(ns, "vols", running)
    wait_log(node, p, "c", "cfg=hello sec=s3cret")
    node.kubectl("-n", ns, "patch", "configmap", "cfg", "-p", '{"data":{"greeting":"updated"}}')
    t0 = time.monotonic()
    wait_log(node, p, "c", "cfg=updated sec=s3cret", timeout=60)
    assert time.monotonic() - t0 < 60
    assert cstatus(node.pod(ns, "vols") or {}, "c")["restartCount"] == 0


def test_empty_dir_shared_and_env_from_configmap_and_downward_api(node: RealNode, ns: str) -> None:
    node.kubectl("-n", ns, "create", "configmap", "env", "--from-literal=color=blue")
    shared = [{"name": "shared", "mountPath": "/shared"}]
    writer = sh("writer", "echo from-writer > /shared/msg.tmp && mv /shared/msg.tmp /shared/msg; sleep 1000",
                volumeMounts=shared)
    reader = sh("reader", "until [ -e /shared/msg ]; do sleep 0.1; done; cat /shared/msg; "
                          "echo color=$COLOR ip=$POD_IP name=$POD_NAME ns=$POD_NS; sleep 1000",
                volumeMounts=shared,
                env=[{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "env", "key": "color"}}},
                     {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                     {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                     {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}])
    node.create(ns, pod("share", writer, reader, volumes=[{"name": "shared", "emptyDir": {"medium": "Memory"}}]))
    p = node.wait_pod(ns, "share", running)
    lines = wait_log(node, p, "reader", "from-writer")
    wait_log(node, p, "reader", f"color=blue ip={p['status']['podIP']} name=share ns={ns}")
    assert lines[0] == "from-writer"


def test_termination_runs_prestop_and_honours_the_grace_period(node: RealNode, ns: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tug-e2e-host-") as host:
        vol = [{"name": "host", "mountPath": "/host"}]
        vols = [{"name": "host", "hostPath": {"path": host, "type": "Directory"}}]
        polite = sh("c", "trap 'read up _ < /proc/uptime; echo $up > /host/term; exit 0' TERM; while true; do sleep 0.1; done",
                    volumeMounts=vol, lifecycle={"preStop": {"exec": {"command": [
                        "sh", "-c", "read up _ < /proc/uptime; echo $up > /host/prestop; sleep 1"]}}})
        stubborn = sh("c", "trap '' TERM; echo $$ > /host/stubborn; while true; do sleep 0.1; done",
                      volumeMounts=vol)
        node.create(ns, pod("polite", polite, volumes=vols, terminationGracePeriodSeconds=20))
        node.create(ns, pod("stubborn", stubborn, volumes=vols, terminationGracePeriodSeconds=3))
        node.wait_pod(ns, "polite", running)
        node.wait_pod(ns, "stubborn", running)
        time.sleep(0.5)  # let the shells install their traps
        t0 = time.time()
        up0 = _uptime()  # busybox date has no sub-second format: the containers stamp /proc/uptime
        node.kubectl("-n", ns, "delete", "pod", "polite", "stubborn", "--wait=false")
        node.wait_gone(ns, "polite", timeout=30)
        polite_gone = time.time() - t0
        node.wait_gone(ns, "stubborn", timeout=30)
        stubborn_gone = time.time() - t0
        stamps = {f: Path(host, f).read_text() for f in ("prestop", "term")}
        assert all(stamps.values()), stamps
        prestop, term = (float(stamps[f]) for f in ("prestop", "term"))
        assert up0 <= prestop <= term, "preStop ran before SIGTERM"
        assert term - prestop >= 0.9, "SIGTERM waited for the preStop hook to finish"
        assert polite_gone < 15, "a container that exits on SIGTERM does not wait out its 20 s grace"
        assert 2.5 <= stubborn_gone <= 15, f"SIGKILL after the 3 s grace period (took {stubborn_gone:.1f}s)"


def test_deleting_a_pod_leaves_nothing_on_the_host(node: RealNode, ns: str) -> None:
    node.kubectl("-n", ns, "create", "configmap", "cfg", "--from-literal=a=b")
    spec = pod("gone", sh("a", "sleep 1000", volumeMounts=[{"name": "mem", "mountPath": "/mem"},
                                                           {"name": "cfg", "mountPath": "/cfg"}],
                          ports=[{"containerPort": 8080, "hostPort": 31000 + os.getpid() % 1000}]),
               sh("b", "sleep 1000 & sleep 1000"),
               volumes=[{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                        {"name": "cfg", "configMap": {"name": "cfg"}}])
    node.create(ns, spec)
    p = node.wait_pod(ns, "gone", running)
    snap = node.snapshot(p["metadata"]["uid"])
    assert len(snap["sandboxes"]) == 1 and len(snap["containers"]) == 2 and len(snap["veths"]) == 1
    before = node.pod_leftovers(snap)
    for kind in ("runc container", "mount", "netns", "veth", "cgroup", "process", "iptables"):
        assert any(x.startswith(kind) for x in before), f"the check sees no {kind} of a running pod: {before}"
    node.kubectl("-n", ns, "delete", "pod", "gone")
    node.wait_gone(ns, "gone")
    assert node.pod_leftovers(snap) == []


def _agent_restart_keeps_containers(node: RealNode, ns: str, name: str, sig: int) -> None:
    p = node.wait_pod(ns, name, lambda p: running(p) and condition(p, "Ready") == "True")
    before = {c["name"]: (c["containerID"], c["restartCount"]) for c in p["status"]["containerStatuses"]}
    pids = {n: node.runc_state(cid)["pid"] for n, (cid, _) in before.items()}  # type: ignore[index]
    node.stop_agent(sig)
    assert all(os.path.exists(f"/proc/{pid}") for pid in pids.values()), "containers outlive the agent"
    node.start_agent()
    time.sleep(3)  # a few sync rounds of the new agent (its periodic sync is 5 s, PLEG 1 s)
    p = node.wait_pod(ns, name, lambda p: condition(p, "Ready") == "True")
    after = {c["name"]: (c["containerID"], c["restartCount"]) for c in p["status"]["containerStatuses"]}
    assert after == before
    assert {n: node.runc_state(cid)["pid"] for n, (cid, _) in after.items()} == pids  # type: ignore[index]


def test_agent_restart_does_not_restart_containers(node: RealNode, ns: str) -> None:
    node.create(ns, pod("steady", sh("a", "sleep 1000"), sh("b", "while true; do sleep 1; done",
                                                             readinessProbe={"exec": {"command": ["true"]},
                                                                             "periodSeconds": 1})))
    _agent_restart_keeps_containers(node, ns, "steady", signal.SIGTERM)
    _agent_restart_keeps_containers(node, ns, "steady", signal.SIGKILL)
    # the adopted pod is still managed: deleting it works and cleans up
    snap = node.snapshot(node.pod(ns, "steady")["metadata"]["uid"])  # type: ignore[index]
    node.kubectl("-n", ns, "delete", "pod", "steady")
    node.wait_gone(ns, "steady")
    assert node.pod_leftovers(snap) == []
