"""Accessibility of the main views, checked by axe-core (vendored under tests/dashboard/vendor,
never shipped with the dashboard) in headless chromium: no serious or critical violation of
WCAG 2.x A/AA rules on sign-in, overview, workloads, nodes, an object's page, logs and shell,
in the light and the dark colour scheme, on a laptop and a phone screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard import harness
from tests.e2e.conftest import TugServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
RUN = """async () => {
  const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
                                      resultTypes: ['violations'] });
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id} (${v.impact}): ${v.help} — ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


def violations(page: Any) -> list[str]:
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return list(page.evaluate(RUN))


@pytest.fixture
def objects(srv: TugServer, ns: str) -> Iterator[str]:
    srv.kubectl("apply", "-f", "-", input=harness.deployment(ns, "web", 2))
    srv.kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Node\nmetadata: {{name: a11y-{ns}}}\n")
    srv.kubectl("wait", "-n", ns, "deployment/web", "--for=jsonpath={.status.replicas}=2", "--timeout=60s")
    yield ns
    srv.kubectl("delete", "node", f"a11y-{ns}", "--wait=false", check=False)


@pytest.mark.parametrize("scheme,width", [("light", 1366), ("dark", 390)])
def test_main_views_have_no_serious_axe_violations(browser: harness.Browser, srv: TugServer, objects: str,
                                                    scheme: str, width: int) -> None:
    ns = objects
    p = browser.page(width=width, height=844, bypass_csp=True)
    p.emulate_media(color_scheme=scheme)
    found: dict[str, list[str]] = {}
    try:
        harness.goto(p, f"{srv.url}/dashboard/")
        p.get_by_label("Bearer token").wait_for()
        found["sign-in"] = violations(p)
        harness.sign_in(p, srv)
        p.wait_for_selector("#ov-phase .tile")
        p.locator("#ov-node-rows tr", has_text=f"a11y-{ns}").wait_for()
        found["overview"] = violations(p)
        p.get_by_label("Namespace", exact=True).select_option(ns)
        p.evaluate("location.hash = '#/workloads'")
        p.wait_for_function("() => document.querySelectorAll('#wl-tree [data-pod]').length === 2")
        p.locator("#wl-tree [data-pod] button.tw").first.click()  # a pod opened shows its containers
        p.locator("#wl-tree li[data-container]").first.wait_for()
        found["workloads"] = violations(p)
        p.evaluate("location.hash = '#/nodes'")
        p.get_by_role("region", name=f"Node a11y-{ns}").wait_for()
        found["nodes"] = violations(p)
        p.evaluate(f"location.hash = '#/object/Deployment/{ns}/web'")
        p.wait_for_function("() => document.querySelector('#dt-yaml')?.value.includes('name: web')")
        found["object"] = violations(p)
        pod = p.evaluate(f"[...window.tugboatApp.cluster.col('pods').items.values()]"
                         f".find(x => x.metadata.namespace === '{ns}').metadata.name")
        p.evaluate(f"location.hash = '#/logs/{ns}/{pod}/app'")
        p.get_by_label("Log output").wait_for()
        found["logs"] = violations(p)
        p.evaluate(f"location.hash = '#/shell/{ns}/{pod}/app'")
        p.locator("#sh-term .xterm").wait_for()
        found["shell"] = violations(p)
    finally:
        p.context.close()
    bad = {view: v for view, v in found.items() if v}
    assert bad == {}, "\n".join(f"{view}: {x}" for view, v in bad.items() for x in v)
