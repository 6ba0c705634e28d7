"""RBAC with the real kubectl against `tug server` (Node,RBAC is its default).

Users authenticate with static tokens (`--token-auth-file`), each with its own kubeconfig; the
admin kubeconfig is `system:masters`. Covers: `view` cannot read secrets or exec, a namespace
`admin` cannot touch another namespace, escalation refused with upstream's message, and
`kubectl auth can-i` (plain, --list, --as).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import KUBECTL, TugServer, start_server, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
USERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def rbac_tug(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TugServer]:
    d = tmp_path_factory.mktemp("rbac")
    tokens = d / "tokens.csv"
    tokens.write_text("".join(f"{u}-token,{u},uid-{u}\n" for u in USERS))
    srv = start_server(["--token-auth-file", str(tokens)])
    try:
        yield srv
    finally:
        stop_server(srv)


def user_kubeconfig(srv: TugServer, user: str) -> Path:
    path = srv.data_dir.parent / f"{user}.kubeconfig"
    if not path.exists():
        cfg = yaml.safe_load(srv.kubeconfig.read_text())
        cfg["users"] = [{"name": user, "user": {"token": f"{user}-token"}}]
        for c in cfg["contexts"]:
            c["context"]["user"] = user
        path.write_text(yaml.safe_dump(cfg))
    return path


def kubectl(srv: TugServer, user: str | None, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    cfg = user_kubeconfig(srv, user) if user else srv.kubeconfig
    env = {"PATH": "/usr/bin:/bin", "HOME": str(srv.home), "KUBECONFIG": str(cfg)}
    return subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=env, timeout=60)


def admin(srv: TugServer, *args: str, input: str | None = None) -> str:
    p = kubectl(srv, None, *args, input=input)
    assert p.returncode == 0, p.stderr
    return p.stdout


def can_i(srv: TugServer, user: str, *args: str) -> str:
    return kubectl(srv, user, "auth", "can-i", *args).stdout.strip()


def until(fn, what: str, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout}s")


def test_view_cannot_read_secrets_or_exec(rbac_tug: TugServer) -> None:
    admin(rbac_tug, "create", "namespace", "rbac-view")
    admin(rbac_tug, "-n", "rbac-view", "create", "secret", "generic", "s", "--from-literal=k=v")
    until(lambda: kubectl(rbac_tug, None, "-n", "rbac-view", "get", "serviceaccount", "default").returncode == 0,
          "the namespace's default service account")  # ServiceAccount admission needs it, as upstream
    admin(rbac_tug, "-n", "rbac-view", "run", "p", "--image=busybox", "--restart=Never")
    admin(rbac_tug, "-n", "rbac-view", "create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice")
    until(lambda: kubectl(rbac_tug, "alice", "-n", "rbac-view", "get", "pods").returncode == 0, "alice views pods")
    p = kubectl(rbac_tug, "alice", "-n", "rbac-view", "get", "secrets")
    assert p.returncode == 1
    assert ('Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" '
            'in API group "" in the namespace "rbac-view"') in p.stderr
    assert kubectl(rbac_tug, "alice", "-n", "rbac-view", "get", "secret", "s").returncode == 1
    p = kubectl(rbac_tug, "alice", "-n", "rbac-view", "exec", "p", "--", "true")
    assert p.returncode != 0 and "forbidden" in p.stderr.lower(), p.stderr
    assert can_i(rbac_tug, "alice", "create", "pods/exec", "-n", "rbac-view") == "no"
    assert can_i(rbac_tug, "alice", "list", "pods", "-n", "rbac-view") == "yes"


def test_namespace_admin_stays_in_its_namespace(rbac_tug: TugServer) -> None:
    for ns in ("rbac-a", "rbac-b"):
        admin(rbac_tug, "create", "namespace", ns)
    admin(rbac_tug, "-n", "rbac-a", "create", "rolebinding", "bob-admin", "--clusterrole=admin", "--user=bob")
    until(lambda: kubectl(rbac_tug, "bob", "-n", "rbac-a", "get", "secrets").returncode == 0, "bob admin")
    assert kubectl(rbac_tug, "bob", "-n", "rbac-a", "create", "configmap", "c", "--from-literal=a=b").returncode == 0
    assert kubectl(rbac_tug, "bob", "-n", "rbac-a", "create", "role", "r", "--verb=get", "--resource=pods"
                   ).returncode == 0
    p = kubectl(rbac_tug, "bob", "-n", "rbac-b", "create", "configmap", "c", "--from-literal=a=b")
    assert p.returncode == 1 and ('configmaps is forbidden: User "bob" cannot create resource "configmaps" in API '
                                  'group "" in the namespace "rbac-b"') in p.stderr
    assert kubectl(rbac_tug, "bob", "-n", "rbac-b", "get", "pods").returncode == 1
    assert kubectl(rbac_tug, "bob", "delete", "namespace", "rbac-b").returncode == 1
    assert kubectl(rbac_tug, "bob", "get", "nodes").returncode == 1


def test_escalation_is_refused(rbac_tug: TugServer) -> None:
    admin(rbac_tug, "create", "namespace", "rbac-esc")
    admin(rbac_tug, "-n", "rbac-esc", "create", "role", "role-maker", "--verb=create",
          "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io")
    admin(rbac_tug, "-n", "rbac-esc", "create", "rolebinding", "carol-maker", "--role=role-maker", "--user=carol")
    until(lambda: can_i(rbac_tug, "carol", "create", "roles", "-n", "rbac-esc") == "yes", "carol may create roles")
    p = kubectl(rbac_tug, "carol", "-n", "rbac-esc", "create", "role", "secret-reader", "--verb=get",
                "--resource=secrets")
    assert p.returncode == 1
    assert ('roles.rbac.authorization.k8s.io "secret-reader" is forbidden: user "carol" '
            '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
            '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}') in p.stderr
    p = kubectl(rbac_tug, "carol", "-n", "rbac-esc", "create", "rolebinding", "root", "--clusterrole=cluster-admin",
                "--user=carol")
    assert p.returncode == 1 and "is attempting to grant RBAC permissions not currently held" in p.stderr
    assert kubectl(rbac_tug, "carol", "-n", "rbac-esc", "get", "secrets").returncode == 1


def test_auth_can_i(rbac_tug: TugServer) -> None:
    assert can_i(rbac_tug, "alice", "create", "deployments", "-n", "default") == "no"
    assert kubectl(rbac_tug, "alice", "auth", "can-i", "create", "deployments").returncode == 1
    assert admin(rbac_tug, "auth", "can-i", "delete", "nodes").strip() == "yes"
    p = kubectl(rbac_tug, None, "auth", "can-i", "get", "secrets", "--as=alice", "-n", "kube-system")
    assert (p.returncode, p.stdout.strip()) == (1, "no")
    out = admin(rbac_tug, "auth", "can-i", "--list", "--as=alice")
    assert "selfsubjectaccessreviews.authorization.k8s.io" in out and "secrets" not in out
    p = kubectl(rbac_tug, "alice", "auth", "can-i", "get", "pods", "--as=bob")
    assert p.returncode != 0 and 'cannot impersonate resource "users"' in p.stderr
    assert "Username" in admin(rbac_tug, "auth", "whoami", "--as=bob")
