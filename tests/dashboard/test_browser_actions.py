"""The object actions of the dashboard in headless chromium against a real `tug server`: rollout
restart, roll back, delete, cordon and drain a node, a container's previous-instance logs, and
signing in with a service-account token from `kubectl create token`, where RBAC applies (a
`view`-bound token lists objects; Scale and Delete show the server's 403 message).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard import harness
from tests.e2e.conftest import TugServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REV = r"{.metadata.annotations.deployment\.kubernetes\.io/revision}"
RESTARTED = r"{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}"


def jsonpath(srv: TugServer, *obj: str, path: str) -> str:
    return srv.kubectl("get", *obj, "-o", f"jsonpath={path}").stdout


def act(page: Any, button: str, expect: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    page.locator("#dt-msg", has_text=expect).wait_for()


def test_restart_roll_back_and_delete_a_deployment(page: Any, srv: TugServer, ns: str) -> None:
    srv.kubectl("apply", "-f", "-", input=harness.deployment(ns, "roll", 1))
    srv.kubectl("wait", "-n", ns, "deployment/roll", f"--for=jsonpath={REV}=1", "--timeout=60s")
    page.evaluate(f"location.hash = '#/object/Deployment/{ns}/roll'")
    act(page, "Restart rollout", "Deployment roll restarted")
    assert jsonpath(srv, "-n", ns, "deployment/roll", path=RESTARTED)  # kubectl's restartedAt annotation
    srv.kubectl("wait", "-n", ns, "deployment/roll", f"--for=jsonpath={REV}=2", "--timeout=60s")
    # the page follows the object: the new revision shows in its YAML before rolling back
    page.wait_for_function("() => document.querySelector('#dt-yaml')?.value.includes(\"revision: '2'\")")
    act(page, "Roll back", "deployment.apps/roll rolled back to revision 1")
    assert jsonpath(srv, "-n", ns, "deployment/roll", path=RESTARTED) == ""  # revision 1's template again
    srv.kubectl("wait", "-n", ns, "deployment/roll", f"--for=jsonpath={REV}=3", "--timeout=60s")
    harness.shot(page, "object-actions")
    page.once("dialog", lambda d: d.accept())  # "Delete Deployment roll?"
    page.get_by_role("button", name="Delete", exact=True).click()
    page.locator("#dt-msg", has_text=re.compile("Deployment roll (was )?deleted")).wait_for()
    srv.kubectl("wait", "-n", ns, "deployment/roll", "--for=delete", "--timeout=60s")
    page.locator("#dt-msg", has_text="Deployment roll was deleted.").wait_for()  # seen through the watch


def test_delete_cancelled_in_the_confirm_dialog_deletes_nothing(page: Any, srv: TugServer, ns: str) -> None:
    srv.kubectl("create", "configmap", "keep", "-n", ns, "--from-literal=k=v")
    page.evaluate(f"location.hash = '#/object/ConfigMap/{ns}/keep'")
    page.wait_for_function("() => document.querySelector('#dt-yaml')?.value.includes('name: keep')")
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Delete", exact=True).click()
    assert srv.kubectl("get", "-n", ns, "configmap/keep", check=False).returncode == 0
    assert page.inner_text("#dt-msg") == ""


def test_cordon_and_drain_a_node(page: Any, srv: TugServer, ns: str) -> None:
    node = "dash-dn-" + uuid.uuid4().hex[:4]
    srv.kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\n")
    try:
        srv.kubectl("create", "-f", "-", input=(
            f"apiVersion: v1\nkind: Pod\nmetadata: {{name: victim, namespace: {ns}}}\n"
            f"spec: {{nodeName: {node}, containers: [{{name: app, image: busybox}}]}}\n"))
        page.evaluate("location.hash = '#/nodes'")
        card = page.get_by_role("region", name=f"Node {node}")
        card.get_by_text("1 pods").wait_for()
        card.get_by_role("button", name="Cordon").click()
        page.locator("#nd-msg", has_text=f"node/{node} cordoned").wait_for()
        assert jsonpath(srv, "node", node, path="{.spec.unschedulable}") == "true"
        card.get_by_role("button", name="Uncordon").wait_for()  # the card follows the node's watch
        assert "SchedulingDisabled" in card.locator("h3").inner_text()
        page.once("dialog", lambda d: d.accept())
        card.get_by_role("button", name="Drain").click()
        page.locator("#nd-msg", has_text=f"node/{node} drained (1 pods evicted)").wait_for()
        # evicted: the pod is being deleted (no kubelet on this node to finish it)
        assert jsonpath(srv, "-n", ns, "pod/victim", path="{.metadata.deletionTimestamp}") != ""
        harness.shot(page, "nodes")
        card.get_by_role("button", name="Uncordon").click()
        card.get_by_role("button", name="Cordon").wait_for()
        assert jsonpath(srv, "node", node, path="{.spec.unschedulable}") == ""
    finally:
        srv.kubectl("delete", "pod", "victim", "-n", ns, "--force", "--grace-period=0", check=False)
        srv.kubectl("delete", "node", node, "--wait=false", check=False)


@pytest.fixture(scope="module")
def agent(srv: TugServer) -> Iterator[Any]:
    from tests.e2e.test_streaming_logs_exec import AgentThread

    a = AgentThread(str(srv.kubeconfig), "dash-" + uuid.uuid4().hex[:6])
    try:
        yield a
    finally:
        a.stop()
        srv.kubectl("delete", "node", a.node, "--wait=false", check=False)


def write_log(agent: Any, pod: dict[str, Any], attempt: int, line: str) -> None:
    path = os.path.join(agent.agent.log_dir(pod), "app", f"{attempt}.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(time.strftime("%Y-%m-%dT%H:%M:%S.000000001Z", time.gmtime()) + f" stdout F {line}\n")


def test_logs_of_the_previous_instance(page: Any, srv: TugServer, ns: str, agent: Any) -> None:
    # the simulated container exits after 8 s and is restarted; attempt 1 runs another 8 s and is
    # then held in back-off: attempt 0 stays the "previous" instance for well over 10 s
    srv.kubectl("apply", "-f", "-", input=(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: crashy, namespace: {ns},"
        f" annotations: {{sim.tugboat.dev/exit-after: 8s, sim.tugboat.dev/exit-code: '1'}}}}\n"
        f"spec: {{nodeName: {agent.node}, containers: [{{name: app, image: busybox}}]}}\n"))
    srv.kubectl("wait", "-n", ns, "pod/crashy", "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
                "--timeout=90s")
    rec = next(r for r in agent.agent.records.values() if r.pod["metadata"]["name"] == "crashy")
    write_log(agent, rec.pod, 0, "said by the first instance")
    write_log(agent, rec.pod, 1, "said by the second instance")
    page.evaluate(f"location.hash = '#/logs/{ns}/crashy/app'")
    page.wait_for_function("() => document.querySelector('#lg-out').textContent.includes('second instance')")
    page.get_by_label("Previous instance").check()
    page.wait_for_function("() => document.querySelector('#lg-out').textContent.includes('first instance')")
    assert "second instance" not in page.inner_text("#lg-out")
    harness.shot(page, "logs-previous")
    page.get_by_label("Previous instance").uncheck()
    page.wait_for_function("() => document.querySelector('#lg-out').textContent.includes('second instance')")


def test_service_account_token_with_view_sees_objects_but_cannot_change_them(
        browser: harness.Browser, srv: TugServer, ns: str) -> None:
    srv.kubectl("apply", "-f", "-", input=harness.deployment(ns, "ro", 1))
    srv.kubectl("create", "serviceaccount", "watcher", "-n", ns)
    # bound in its own namespace only: it may not list across the cluster, so the context says
    # which namespace to list in (as a kubeconfig context's namespace does)
    srv.kubectl("create", "rolebinding", "watcher-view", "-n", ns, "--clusterrole=view", f"--serviceaccount={ns}:watcher")
    p = browser.page()
    try:
        token = srv.kubectl("create", "token", "watcher", "-n", ns).stdout.strip()
        harness.sign_in(p, srv, token=token, name="sa", namespace=ns)
        user = f"system:serviceaccount:{ns}:watcher"
        p.get_by_text(f"Signed in as {user}").wait_for()
        assert p.evaluate("[...document.querySelectorAll('#ns-select option')].map(o => o.value)") == [ns]
        p.evaluate("location.hash = '#/workloads'")
        p.locator('#wl-tree [data-obj="Deployment/ro"]').wait_for()
        p.evaluate(f"location.hash = '#/object/Deployment/{ns}/ro'")
        p.wait_for_function("() => document.querySelector('#dt-yaml')?.value.includes('name: ro')")
        p.get_by_label("Replicas", exact=True).fill("3")
        p.get_by_role("button", name="Scale").click()
        msg = p.locator("#dt-msg", has_text="forbidden")
        msg.wait_for()
        assert (f'deployments.apps "ro" is forbidden: User "{user}" cannot patch resource "deployments/scale" '
                f'in API group "apps" in the namespace "{ns}"') in msg.inner_text()
        p.once("dialog", lambda d: d.accept())
        p.get_by_role("button", name="Delete", exact=True).click()
        p.locator("#dt-msg", has_text='cannot delete resource "deployments"').wait_for()
        harness.shot(p, "forbidden")
        assert jsonpath(srv, "-n", ns, "deployment/ro", path="{.spec.replicas}") == "1"
        assert p.js_errors == []
    finally:
        p.context.close()


def test_keyed_updates_keep_unchanged_rows_and_move_children(page: Any) -> None:
    """dom.js in the real browser: what makes 200 changes/s cheap is that rows whose html did not
    change are the SAME elements afterwards (focus, scroll and state survive)."""
    got = page.evaluate("""async () => {
      const dom = await import('./js/dom.js');
      const ul = document.createElement('ul');
      const pod = (k, s) => ({ key: k, html: `<li class="pod">${k} ${s}</li>` });
      const group = (s, kids) => ({ key: 'g', open: true, kids,
        html: `<li><div class="row">${dom.disclosure('g')} g ${s}</div>${dom.slot()}</li>` });
      dom.patchChildren(ul, [group('1/2', [pod('a', 'Running'), pod('b', 'Pending')])]);
      const g0 = ul.firstElementChild, [a0, b0] = g0.querySelectorAll('li.pod');
      const created = dom.patchChildren(ul, [group('1/2', [pod('b', 'Running'), pod('a', 'Running'), pod('c', 'New')])]);
      const [b1, a1, c1] = ul.querySelectorAll('li.pod');
      const same = [ul.firstElementChild === g0, a1 === a0, b1 === b0, b1.textContent, c1.textContent];
      const g2 = (dom.patchChildren(ul, [group('2/2', [pod('b', 'Running')])]), ul.firstElementChild);
      return [...same, created, g2 === g0, ul.querySelectorAll('li.pod')[0] === b1, ul.querySelectorAll('li.pod').length,
              g2.querySelector('[aria-expanded]').getAttribute('aria-expanded'), g2.textContent.includes('2/2'),
              dom.patchChildren(ul, []), ul.children.length];
    }""")
    # b changed (replaced), a kept and moved, c new: 2 created; then the group's own html changes:
    # a new group element that carries the SAME pod element across; finally everything removed
    assert got == [True, True, False, "b Running", "c New", 2, False, True, 1, "true", True, 0, 0]
