"""Several clusters (Lens-style contexts) across two real `tug server`s: the dashboard served by
server A signs in to server B, which allows A's origin with upstream's --cors-allowed-origins,
shows B's objects and switches back to A's. A server without that flag is refused by the browser,
and the page says which flag to set instead of a bare "Failed to fetch".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard import harness
from tests.e2e.conftest import TugServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def other(srv: TugServer) -> Iterator[TugServer]:
    origin = "^" + re.escape(srv.url) + "$"
    with harness.token_server(server_args=["--cors-allowed-origins", origin]) as s:
        yield s


def tree_has(page: Any, obj: str) -> bool:
    return bool(page.locator(f'#wl-tree [data-obj="{obj}"]').count())


def test_switch_to_a_context_on_another_server(browser: harness.Browser, srv: TugServer, other: TugServer) -> None:
    other.kubectl("apply", "-f", "-", input=harness.deployment("default", "only-on-b", 1))
    srv.kubectl("apply", "-f", "-", input=harness.deployment("default", "only-on-a", 1))
    p = browser.page()
    try:
        harness.sign_in(p, srv, name="cluster-a")
        p.get_by_text("Signed in as dash-admin").wait_for()
        p.get_by_label("Cluster").select_option("__add")
        p.get_by_label("Context name").fill("cluster-b")
        p.get_by_label("API server").fill(other.url)
        p.get_by_label("Bearer token").fill(harness.ADMIN_TOKEN)
        p.get_by_role("button", name="Sign in").click()
        p.wait_for_function("() => document.querySelector('#ctx-select').value === 'cluster-b'")
        p.get_by_text("Signed in as dash-admin").wait_for()
        assert p.evaluate("window.tugboatApp.api.base") == other.url  # B, from A's page
        p.evaluate("location.hash = '#/workloads'")
        p.locator('#wl-tree [data-obj="Deployment/only-on-b"]').wait_for()
        assert not tree_has(p, "Deployment/only-on-a")
        # live through B's watch (a WebSocket to B) and B's REST API (CORS preflights)
        other.kubectl("scale", "-n", "default", "deployment/only-on-b", "--replicas=2")
        p.locator('[data-obj="Deployment/only-on-b"] [data-replicas="0/2"]').wait_for()
        harness.shot(p, "other-cluster")
        p.evaluate("location.hash = '#/object/Deployment/default/only-on-b'")
        p.get_by_label("Replicas", exact=True).fill("3")
        p.get_by_role("button", name="Scale").click()
        p.locator("#dt-msg", has_text="Deployment only-on-b scaled to 3").wait_for()
        assert other.kubectl("get", "deployment/only-on-b", "-o", "jsonpath={.spec.replicas}").stdout == "3"
        p.get_by_label("Cluster").select_option("cluster-a")
        p.wait_for_function("() => window.tugboatApp.api.base === ''")
        p.evaluate("location.hash = '#/workloads'")
        p.locator('#wl-tree [data-obj="Deployment/only-on-a"]').wait_for()
        assert not tree_has(p, "Deployment/only-on-b")
        assert p.js_errors == []
    finally:
        p.context.close()
        other.kubectl("delete", "deployment/only-on-b", check=False)
        srv.kubectl("delete", "deployment/only-on-a", check=False)


def test_a_server_without_cors_is_explained(browser: harness.Browser, srv: TugServer, other: TugServer) -> None:
    # B's page signing in to A: A has no --cors-allowed-origins, the browser blocks the call
    p = browser.page()
    try:
        harness.sign_in(p, other, name="no-cors", server=srv.url)
        err = p.locator("#signin-error", has_text="Sign-in failed")
        err.wait_for()
        want = "--cors-allowed-origins '^" + other.url.replace(".", "\\.") + "$'"
        assert f"cannot reach {srv.url}" in err.inner_text() and want in err.inner_text(), err.inner_text()
        assert p.locator("#nav").is_hidden()
    finally:
        p.context.close()


def test_contexts_imported_from_a_kubeconfig(browser: harness.Browser, srv: TugServer, other: TugServer) -> None:
    # what a user pastes: two usable token contexts (current = B) and one certificate-only user
    kubeconfig = f"""
apiVersion: v1
kind: Config
current-context: b-admin
clusters:
- {{name: a, cluster: {{server: "{srv.url}"}}}}
- {{name: b, cluster: {{server: "{other.url}"}}}}
contexts:
- {{name: a-admin, context: {{cluster: a, user: tok}}}}
- {{name: b-admin, context: {{cluster: b, user: tok, namespace: default}}}}
- {{name: a-cert, context: {{cluster: a, user: cert}}}}
users:
- {{name: tok, user: {{token: {harness.ADMIN_TOKEN}}}}}
- {{name: cert, user: {{client-certificate-data: AAAA, client-key-data: AAAA}}}}
"""
    p = browser.page()
    try:
        harness.goto(p, f"{srv.url}/dashboard/")
        p.get_by_label("Or import the contexts of a kubeconfig").fill(kubeconfig)
        p.get_by_role("button", name="Import contexts").click()
        p.locator("#kubeconfig-result", has_text="Imported a-admin, b-admin").wait_for()
        assert "skipped a-cert (its user has no bearer token)" in p.locator("#kubeconfig-result").inner_text()
        p.get_by_text("Signed in as dash-admin").wait_for()
        p.wait_for_function("() => document.querySelector('#ctx-select').value === 'b-admin'")
        assert p.evaluate("window.tugboatApp.api.base") == other.url  # the kubeconfig's current-context
        p.get_by_label("Cluster").select_option("a-admin")
        p.wait_for_function("() => window.tugboatApp.api.base === " + repr(srv.url))
        assert p.js_errors == []
    finally:
        p.context.close()
