"""The web dashboard (issue 9) in headless Debian chromium against a real `tug server`.

Signed in with a static bearer token, the page must: show the overview, keep a Deployment's
tree live while it scales (controllers run in the server; pods stay Pending with no nodes),
apply a YAML edit, show the server's validation message for an invalid one, tail a pod's logs
as lines arrive and run a command in the in-page terminal (a simulated node agent serves logs
and exec). Screenshots of the main views go to $TUG_ARTIFACTS (default tests/artifacts/).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.dashboard import harness
from tests.e2e.conftest import TugServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
_skip = harness.skip_reason()
if _skip:
    pytest.skip(_skip, allow_module_level=True)


@pytest.fixture(scope="module")
def srv() -> Iterator[TugServer]:
    with harness.token_server() as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[harness.Browser]:
    with harness.chromium() as b:
        yield b


@pytest.fixture
def page(browser: harness.Browser, srv: TugServer) -> Iterator[Any]:
    p = browser.page()
    harness.sign_in(p, srv)
    p.wait_for_selector("#ov-phase .tile")
    yield p
    assert p.js_errors == []
    p.context.close()


@pytest.fixture
def ns(srv: TugServer) -> Iterator[str]:
    name = "dash-" + uuid.uuid4().hex[:6]
    srv.kubectl("create", "namespace", name)
    yield name
    srv.kubectl("delete", "namespace", name, "--wait=false", check=False)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(harness.artifacts_dir() / f"{name}.png"), full_page=True)


def deployment(ns: str, name: str, replicas: int) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n"
            f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec: {{containers: [{{name: app, image: busybox}}]}}\n")


def test_page_loads_anonymously_but_nothing_else_does(srv: TugServer, browser: harness.Browser) -> None:
    with httpx.Client(verify=False, timeout=30) as c:
        r = c.get(f"{srv.url}/dashboard/")
        assert r.status_code == 200 and "<main" in r.text
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert c.get(f"{srv.url}/api/v1/pods").status_code == 401
        assert c.get(f"{srv.url}/dashboard/../api/v1/pods").status_code in (401, 404)
    p = browser.page()
    try:
        harness.sign_in(p, srv, token="wrong-token")
        p.get_by_text("Sign-in failed").wait_for()
        assert p.locator("#nav").is_hidden()
    finally:
        p.context.close()


def test_sign_in_shows_user_and_overview(page: Any, srv: TugServer, ns: str) -> None:
    node = "dash-node-" + uuid.uuid4().hex[:4]
    srv.kubectl("create", "-f", "-", input=(
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\n"))
    try:
        srv.kubectl("create", "-f", "-", input=(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: lonely, namespace: {ns}}}\n"
            f"spec: {{nodeName: {node}, containers: [{{name: app, image: busybox,"
            f" resources: {{requests: {{cpu: 250m}}}}}}]}}\n"))
        assert "dash-admin" in page.inner_text("#whoami")
        row = page.locator("#ov-node-rows tr", has_text=node)
        row.wait_for()
        assert "1 /" in row.inner_text()  # the pod counts against its node
        pending = page.locator('#ov-phase [data-phase="Pending"] .num')
        assert int(pending.inner_text()) >= 1
        shot(page, "overview")
        # after sign-in focus is on <main>; the keyboard reaches the node's link, Enter opens it
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == node
        page.keyboard.press("Enter")
        page.get_by_role("heading", name=f"Node {node}").wait_for()
    finally:
        srv.kubectl("delete", "node", node, "--wait=false", check=False)


def test_several_contexts_switch_and_survive_a_reload(browser: harness.Browser, srv: TugServer) -> None:
    p = browser.page(width=390, height=844)  # a phone
    try:
        harness.sign_in(p, srv, name="admin")
        p.get_by_text("Signed in as dash-admin").wait_for()
        p.get_by_label("Cluster").select_option("__add")  # "Add a cluster…"
        p.get_by_label("Context name").fill("viewer")
        p.get_by_label("Bearer token").fill(harness.VIEWER_TOKEN)
        p.get_by_role("button", name="Sign in").click()
        p.get_by_text("Signed in as dash-viewer").wait_for()
        shot(p, "overview-phone")
        assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
        p.get_by_label("Cluster").select_option("admin")
        p.get_by_text("Signed in as dash-admin").wait_for()
        p.reload()
        p.get_by_text("Signed in as dash-admin").wait_for()  # contexts live in this browser's localStorage
        names = p.evaluate("[...document.querySelectorAll('#ctx-select option')].map(o => o.value)")
        assert names[:2] == ["admin", "viewer"]
        # the stored token is the only credential: nothing is fetched with it once signed out
        p.get_by_role("button", name="Sign out").click()
        p.get_by_label("Bearer token").wait_for()
        assert p.js_errors == []
    finally:
        p.context.close()


def _pods_under(page: Any, name: str) -> int:
    dep = page.locator("li[data-uid]", has=page.locator(f'[data-obj="Deployment/{name}"]')).first
    return int(dep.locator("[data-pod]").count())


def test_deployment_tree_updates_as_it_scales(page: Any, srv: TugServer, ns: str) -> None:
    srv.kubectl("apply", "-f", "-", input=deployment(ns, "web", 2))
    page.get_by_label("Namespace", exact=True).select_option(ns)
    page.evaluate("location.hash = '#/workloads'")
    page.wait_for_function("n => document.querySelectorAll('#wl-tree [data-pod]').length === n", arg=2)
    assert _pods_under(page, "web") == 2
    srv.kubectl("scale", "-n", ns, "deployment/web", "--replicas=4")
    page.wait_for_function("n => document.querySelectorAll('#wl-tree [data-pod]').length === n", arg=4)
    assert page.locator('[data-replicas="0/4"]').count() >= 1  # deployment and its replica set
    shot(page, "workloads")
    # scale from the object page's action, the tree follows
    page.evaluate(f"location.hash = '#/object/Deployment/{ns}/web'")
    page.get_by_label("Replicas", exact=True).fill("1")
    page.get_by_role("button", name="Scale").click()
    page.locator("#dt-msg", has_text="Deployment web scaled to 1").wait_for()
    page.evaluate("location.hash = '#/workloads'")
    page.wait_for_function("n => document.querySelectorAll('#wl-tree [data-pod]').length === n", arg=1)


def test_yaml_edit_is_applied_and_invalid_edit_shows_server_error(page: Any, srv: TugServer, ns: str) -> None:
    srv.kubectl("apply", "-f", "-", input=deployment(ns, "edit", 1))
    page.evaluate(f"location.hash = '#/object/Deployment/{ns}/edit'")
    ta = page.get_by_label("YAML of Deployment edit")
    # the deployment controller annotates the revision; edit the settled object, like a user would
    page.wait_for_function("() => document.querySelector('#dt-yaml')?.value.includes('deployment.kubernetes.io/revision')")
    obj = yaml.safe_load(ta.input_value())
    assert "managedFields" not in obj["metadata"]
    obj["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    obj["spec"]["template"]["metadata"]["labels"]["app"] = "edit"
    ta.fill(yaml.safe_dump(obj))
    page.get_by_role("button", name="Apply").click()
    page.locator("#dt-yaml-ok, #dt-yaml-error").filter(has_text="e").first.wait_for()
    assert page.locator("#dt-yaml-error").inner_text() == ""
    page.get_by_text("Deployment edit updated").wait_for()
    got = srv.kubectl("get", "-n", ns, "deployment/edit", "-o", "jsonpath={.spec.template.metadata.labels.tier}")
    assert got.stdout == "front"
    shot(page, "object-detail")
    # invalid: negative replicas; the server's Status message is shown verbatim
    obj = yaml.safe_load(ta.input_value())
    obj["spec"]["replicas"] = -1
    ta.fill(yaml.safe_dump(obj))
    page.get_by_role("button", name="Apply").click()
    err = page.locator("#dt-yaml-error")
    err.wait_for()
    text = err.inner_text()
    assert "spec.replicas" in text and "greater than or equal to 0" in text, text
    shot(page, "invalid-edit")
    assert srv.kubectl("get", "-n", ns, "deployment/edit", "-o", "jsonpath={.spec.replicas}").stdout == "1"


@pytest.fixture(scope="module")
def agent(srv: TugServer) -> Iterator[Any]:
    from tests.e2e.test_streaming_logs_exec import AgentThread

    a = AgentThread(str(srv.kubeconfig), "dash-" + uuid.uuid4().hex[:6])
    try:
        yield a
    finally:
        a.stop()
        srv.kubectl("delete", "node", a.node, "--wait=false", check=False)


def test_logs_follow_and_shell(page: Any, srv: TugServer, ns: str, agent: Any) -> None:
    from tests.e2e.test_streaming_logs_exec import append_log, run_pod

    pod = run_pod(srv, ns, agent, "chatty")
    append_log(agent, pod, "first line", "second line")
    page.evaluate(f"location.hash = '#/logs/{ns}/chatty/app'")
    out = page.locator("#lg-out")
    page.wait_for_function("() => document.querySelector('#lg-out').textContent.includes('second line')")
    append_log(agent, pod, "a new line arrives")
    page.wait_for_function("() => document.querySelector('#lg-out').textContent.includes('a new line arrives')")
    page.get_by_label("Search").fill("new")
    page.wait_for_function("() => !document.querySelector('#lg-out').textContent.includes('first line')")
    assert out.inner_text().strip() == "a new line arrives"
    shot(page, "logs")
    # the shell: the simulated runtime knows echo/cat; cat echoes what is typed into the terminal
    page.evaluate(f"location.hash = '#/shell/{ns}/chatty/app'")
    page.get_by_label("Command").fill("echo hello from the dashboard")
    page.get_by_role("button", name="Connect").click()
    screen = ("want => { const b = window.tugboatTerm.buffer.active; let s = ''; "
              "for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n'; "
              "return s.includes(want); }")
    page.wait_for_function(screen, arg="hello from the dashboard")
    page.get_by_label("Command").fill("cat")
    page.get_by_role("button", name="Connect").click()
    page.get_by_text("connected (v5.channel.k8s.io)").wait_for()
    page.locator("#sh-term").click()
    page.keyboard.type("typed-into-tty")
    page.wait_for_function(screen, arg="typed-into-tty")
    shot(page, "shell")
    page.evaluate("location.hash = '#/overview'")  # leaving the view closes the exec session
    page.wait_for_selector("#ov-phase .tile")


@contextlib.contextmanager
def in_thread(cm: Any) -> Iterator[Any]:
    """Enter and exit `cm` on a thread of its own: real_node's set-up and teardown call asyncio.run,
    which cannot run on this thread while Playwright's sync API keeps its event loop here."""
    entered: queue.Queue[tuple[bool, Any]] = queue.Queue()
    exited: queue.Queue[BaseException | None] = queue.Queue()
    release = threading.Event()

    def body() -> None:
        try:
            with cm as value:
                entered.put((True, value))
                release.wait()
        except BaseException as e:  # noqa: BLE001 - skips and teardown failures go to the test
            if entered.empty():
                entered.put((False, e))
            exited.put(e)
        else:
            exited.put(None)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    ok, value = entered.get()
    if not ok:
        t.join()
        raise value
    try:
        yield value
    finally:
        release.set()
        t.join(300)
        err = exited.get_nowait() if not exited.empty() else None
        if err is not None:
            raise err


def test_shell_into_a_real_container(browser: harness.Browser, tmp_path: Any) -> None:
    """A real busybox container (runc; skips without root, runc and the CNI plugins): /bin/sh with a
    tty in the page; arithmetic only a shell does, and `stty size` agrees with the terminal's size."""
    from tests.e2e.realnode import real_node

    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{harness.ADMIN_TOKEN},dash-admin,1000,"system:masters"\n')
    with in_thread(real_node(agent_args=["--address", "127.0.0.1", "--port", "0", "--node-ip", "127.0.0.1"],
                             own_netns_only=True, server_args=["--token-auth-file", str(tokens)])) as node:
        ns = node.new_namespace()
        node.create(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box"},
                         "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                             {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}})
        node.wait_pod(ns, "box", lambda p: (p.get("status") or {}).get("phase") == "Running", what="Running")
        page = browser.page()
        try:
            harness.sign_in(page, node.server)
            page.wait_for_selector("#ov-phase .tile")
            page.evaluate(f"location.hash = '#/shell/{ns}/box/main'")
            page.get_by_text("connected (v5.channel.k8s.io)").wait_for()
            page.locator("#sh-term").click()
            page.keyboard.type("echo $((6*7)); stty size\n")
            lines = ("() => { const b = window.tugboatTerm.buffer.active; const out = [];"
                     " for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true).trim());"
                     " return out; }")
            page.wait_for_function(f"() => ({lines})().includes('42')")
            size = page.evaluate("`${window.tugboatTerm.rows} ${window.tugboatTerm.cols}`")
            page.wait_for_function(f"want => ({lines})().includes(want)", arg=size)
            shot(page, "shell-real")
            assert page.js_errors == []
        finally:
            page.context.close()
