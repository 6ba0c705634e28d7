"""Service-account tokens, encryption at rest and audit through the real `tug server` and the
real kubectl: `kubectl create token` → `kubectl auth whoami --token`; deleting the bound pod or
the account revokes it; Secrets are stored with the `k8s:enc:aesgcm:v1:` prefix and survive a
key rotation; the audit log gets JSON lines; a pod on a real node reads its projected token."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import KUBECTL, TugServer, start_server, stop_server

KEY1 = base64.b64encode(b"k" * 32).decode()
KEY2 = base64.b64encode(b"n" * 32).decode()


def whoami(srv: TugServer, token: str) -> subprocess.CompletedProcess[str]:
    """`kubectl auth whoami` with ONLY the token (no client certificate from the kubeconfig)."""
    empty = srv.home / "empty.kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(srv.home), "KUBECONFIG": str(empty)}
    return subprocess.run([KUBECTL, "auth", "whoami", "-o", "json", "--server", srv.url,
                           "--certificate-authority", str(srv.data_dir / "tls" / "ca.crt"), "--token", token],
                          capture_output=True, text=True, timeout=60, env=env)


def username(srv: TugServer, token: str) -> str | None:
    p = whoami(srv, token)
    if p.returncode != 0:
        assert "Unauthorized" in p.stderr or "logged in" in p.stderr, p.stderr
        return None
    return str(orjson.loads(p.stdout)["status"]["userInfo"]["username"])


def wait_for(fn: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TugServer]:
    """`tug server` with encryption at rest (secrets) and an audit log."""
    cfg = tmp_path_factory.mktemp("sec")
    (cfg / "enc.yaml").write_text(enc_config(("key1", KEY1)))
    (cfg / "audit.yaml").write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
        "- level: None\n  nonResourceURLs: ['/readyz*', '/healthz*', '/livez*']\n"
        "- level: Metadata\n  resources: [{group: '', resources: [secrets]}]\n"
        "- level: None\n  userGroups: ['system:nodes', 'system:serviceaccounts']\n"
        "- level: Request\n  verbs: [create]\n")
    srv = start_server(["--encryption-provider-config", str(cfg / "enc.yaml"), "--audit-policy-file",
                        str(cfg / "audit.yaml"), "--audit-log-path", str(cfg / "audit.log"),
                        "--disable", "scheduler"])
    srv.home.joinpath("cfg").symlink_to(cfg)
    try:
        yield srv
    finally:
        stop_server(srv)


def enc_config(*keys: tuple[str, str]) -> str:
    lines = "".join(f"          - name: {n}\n            secret: {s}\n" for n, s in keys)
    return ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n" + lines +
            "      - identity: {}\n")


def new_ns(srv: TugServer) -> str:
    ns = "sat-" + uuid.uuid4().hex[:6]
    srv.kubectl("create", "namespace", ns)
    wait_for(lambda: srv.kubectl("-n", ns, "get", "sa", "default", check=False).returncode == 0,
             what="default service account")
    return ns


def test_create_token_whoami_and_revocation(secure: TugServer) -> None:
    ns = new_ns(secure)
    secure.kubectl("-n", ns, "create", "serviceaccount", "robot")
    token = secure.kubectl("-n", ns, "create", "token", "robot", "--duration", "15m").stdout.strip()
    assert username(secure, token) == f"system:serviceaccount:{ns}:robot"
    too_short = secure.kubectl("-n", ns, "create", "token", "robot", "--duration", "5m", check=False)
    assert too_short.returncode != 0 and "may not specify a duration less than 10 minutes" in too_short.stderr

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns},
           "spec": {"serviceAccountName": "robot", "nodeName": "no-such-node",
                    "containers": [{"name": "c", "image": "busybox"}]}}
    secure.kubectl("create", "-f", "-", input=orjson.dumps(pod).decode())
    got = orjson.loads(secure.kubectl("-n", ns, "get", "pod", "p", "-o", "json").stdout)
    vols = [v["name"] for v in got["spec"]["volumes"]]
    assert len(vols) == 1 and vols[0].startswith("kube-api-access-")  # ServiceAccount admission
    bound = secure.kubectl("-n", ns, "create", "token", "robot", "--bound-object-kind", "Pod",
                           "--bound-object-name", "p").stdout.strip()
    assert username(secure, bound) == f"system:serviceaccount:{ns}:robot"
    secure.kubectl("-n", ns, "delete", "pod", "p", "--grace-period=0", "--force")
    assert username(secure, bound) is None
    assert username(secure, token) is not None  # not bound to the pod
    secure.kubectl("-n", ns, "delete", "serviceaccount", "robot")
    assert username(secure, token) is None

    missing = orjson.dumps({**pod, "metadata": {"name": "q", "namespace": ns}}).decode()
    p = secure.kubectl("create", "-f", "-", input=missing, check=False)
    assert p.returncode != 0 and 'serviceaccount "robot" not found' in p.stderr
    cm = wait_for(lambda: secure.kubectl("-n", ns, "get", "cm", "kube-root-ca.crt", "-o", "json", check=False).stdout,
                  what="kube-root-ca.crt")
    ca = (secure.data_dir / "tls" / "ca.crt").read_text()
    assert orjson.loads(cm)["data"]["ca.crt"] == ca


def raw_value(srv: TugServer, key: str) -> bytes:
    con = sqlite3.connect(f"file:{srv.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM log WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)).fetchone()
    finally:
        con.close()
    assert row is not None, key
    return bytes(row[0])


def test_secrets_encrypted_at_rest_and_audited(secure: TugServer) -> None:
    ns = new_ns(secure)
    secure.kubectl("-n", ns, "create", "secret", "generic", "db", "--from-literal=password=hunter2")
    value = raw_value(secure, f"/registry/core/secrets/{ns}/db")
    assert value.startswith(b"k8s:enc:aesgcm:v1:key1:") and b"hunter2" not in value
    got = secure.kubectl("-n", ns, "get", "secret", "db", "-o", "jsonpath={.data.password}").stdout
    assert base64.b64decode(got) == b"hunter2"
    secure.kubectl("-n", ns, "create", "configmap", "cfg", "--from-literal=a=b")
    assert raw_value(secure, f"/registry/core/configmaps/{ns}/cfg").startswith(b"{")

    log = Path(secure.home / "cfg" / "audit.log")
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    secret_ev = [e for e in events if (e.get("objectRef") or {}).get("name") == "db"
                 or ((e.get("objectRef") or {}).get("resource") == "secrets" and e["verb"] == "create"
                     and (e.get("objectRef") or {}).get("namespace") == ns)]
    assert secret_ev and all(e["level"] == "Metadata" and "requestObject" not in e for e in secret_ev)
    assert b"hunter2" not in log.read_bytes()
    cm_ev = [e for e in events if e["verb"] == "create" and (e.get("objectRef") or {}).get("resource") == "configmaps"
             and (e.get("objectRef") or {}).get("namespace") == ns and (e.get("requestObject") or {})
             .get("metadata", {}).get("name") == "cfg"]
    assert cm_ev and cm_ev[0]["level"] == "Request" and cm_ev[0]["requestObject"]["data"] == {"a": "b"}
    assert all(e["stage"] == "ResponseComplete" for e in events)
    assert not [e for e in events if e.get("requestURI", "").startswith("/readyz")]


def test_key_rotation_across_restarts() -> None:
    srv = start_server(["--disable", "scheduler,controller-manager"])
    cfg = srv.data_dir.parent / "enc.yaml"
    try:
        restart(srv, cfg, enc_config(("key1", KEY1)))
        srv.kubectl("-n", "default", "create", "secret", "generic", "old", "--from-literal=v=1")
        assert raw_value(srv, "/registry/core/secrets/default/old").startswith(b"k8s:enc:aesgcm:v1:key1:")
        restart(srv, cfg, enc_config(("key2", KEY2), ("key1", KEY1)))
        srv.kubectl("-n", "default", "create", "secret", "generic", "new", "--from-literal=v=2")
        assert raw_value(srv, "/registry/core/secrets/default/new").startswith(b"k8s:enc:aesgcm:v1:key2:")
        listing = srv.kubectl("get", "secrets", "-A", "-o", "json").stdout
        srv.kubectl("replace", "-f", "-", input=listing)
        assert raw_value(srv, "/registry/core/secrets/default/old").startswith(b"k8s:enc:aesgcm:v1:key2:")
        restart(srv, cfg, enc_config(("key2", KEY2)))
        got = srv.kubectl("-n", "default", "get", "secret", "old", "-o", "jsonpath={.data.v}").stdout
        assert base64.b64decode(got) == b"1"
    finally:
        stop_server(srv)


def restart(srv: TugServer, cfg: Path, text: str) -> None:
    """Stop the server process and start it again on the same data dir with a new encryption config."""
    cfg.write_text(text)
    srv.proc.terminate()
    srv.proc.wait(timeout=30)
    with open(srv.data_dir.parent / "server.log", "ab") as log:
        srv.proc = subprocess.Popen(_argv(srv, cfg), stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: srv.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0,
             timeout=60, what="server ready after restart")


def _argv(srv: TugServer, cfg: Path) -> list[str]:
    return [sys.executable, "-m", "tugboat.cli.main", "server", "--data-dir", str(srv.data_dir), "--port",
            str(srv.port), "--bind-address", "127.0.0.1", "--no-agent", "--disable", "scheduler,controller-manager",
            "--encryption-provider-config", str(cfg)]


def test_pod_on_a_real_node_reads_its_projected_token() -> None:
    """The agent writes the kube-api-access volume: token (bound to the pod), ca.crt, namespace."""
    from tests.e2e.realnode import real_node, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    with real_node(own_netns_only=True) as node:
        ns = node.new_namespace()
        script = ("d=/var/run/secrets/kubernetes.io/serviceaccount; echo TOKEN=$(cat $d/token); "
                  "echo NS=$(cat $d/namespace); echo CA=$(head -1 $d/ca.crt); sleep 3600")
        node.create(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}})
        p = node.wait_pod(ns, "reader", lambda p: (p.get("status") or {}).get("phase") == "Running", timeout=90)

        def lines() -> dict[str, str]:
            try:
                text = node.log_file(p, "c").read_text()
            except FileNotFoundError:
                return {}
            out = [ln.split(" ", 3)[3] for ln in text.splitlines() if ln.count(" ") >= 3]
            return dict(ln.split("=", 1) for ln in out if "=" in ln)

        got = wait_for(lambda: (lambda d: d if "CA" in d else None)(lines()), what="the pod's output")
        assert got["NS"] == ns and got["CA"] == "-----BEGIN CERTIFICATE-----"
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": got["TOKEN"]}}
        out = orjson.loads(node.kubectl("create", "-f", "-", "-o", "json", input=orjson.dumps(review).decode()).stdout)
        user = out["status"]["user"]
        assert out["status"].get("authenticated") is True
        assert user["username"] == f"system:serviceaccount:{ns}:default"
        assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [p["metadata"]["uid"]]
        node.kubectl("-n", ns, "delete", "pod", "reader", "--wait=true", timeout=90)
        out = orjson.loads(node.kubectl("create", "-f", "-", "-o", "json", input=orjson.dumps(review).decode()).stdout)
        assert "authenticated" not in out["status"]
