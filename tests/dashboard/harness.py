"""A real `tug server` with static bearer tokens plus headless Debian chromium driven by Playwright.

Shared by tests/e2e/test_dashboard.py and bench/dashboard.py. Playwright's own browser download
is never used (`playwright install` needs a CDN this project cannot reach): the system
`chromium` is launched through `executable_path`. `skip_reason()` says why a run cannot have a
browser, so the tests skip with that reason instead of failing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.conftest import TugServer, start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_TOKEN = "dash-admin-0123456789abcdef"
VIEWER_TOKEN = "dash-viewer-0123456789abcdef"  # user `dash-viewer`, no groups


def skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "no system chromium (Debian package `chromium`; `make setup` installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (`make setup` installs it)"
    return None


def artifacts_dir() -> Path:
    d = Path(os.environ.get("TUG_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts") / "dashboard"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def token_server(extra_tokens: str = "", server_args: list[str] | None = None) -> Iterator[TugServer]:
    """A `tug server` (no agent) that accepts ADMIN_TOKEN as user `dash-admin` in system:masters."""
    tmp = Path(tempfile.mkdtemp(prefix="tug-dash-tokens-"))
    try:
        tokens = tmp / "tokens.csv"
        tokens.write_text(f'{ADMIN_TOKEN},dash-admin,1000,"system:masters"\n{VIEWER_TOKEN},dash-viewer,1001\n'
                          f'{extra_tokens}')
        srv = start_server(["--token-auth-file", str(tokens), *(server_args or [])])
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Browser:
    pw: Any
    browser: Any

    def page(self, width: int = 1366, height: int = 900, bypass_csp: bool = False) -> Any:
        """A fresh context's page; bypass_csp only to inject test tooling (axe-core) into it."""
        ctx = self.browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height},
                                       bypass_csp=bypass_csp)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.js_errors = errors  # tests assert the app threw nothing
        return page


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield Browser(pw, browser)
        finally:
            browser.close()
    finally:
        pw.stop()


def goto(page: Any, url: str) -> None:
    """page.goto, retried: other tests on this host add and remove interfaces (netns, veths), and
    chromium aborts a navigation under way with ERR_NETWORK_CHANGED when they do.
    A module script aborted that way leaves the app unstarted, so this also waits for the app.
    """
    for attempt in range(5):
        try:
            page.goto(url)
            page.wait_for_function("() => window.tugboatApp !== undefined", timeout=15000)
            return
        except Exception as e:  # playwright's Error / TimeoutError
            # a network change mid-load also shows as a navigation "interrupted by" chrome's error page
            if attempt == 4 or not any(w in str(e) for w in ("ERR_NETWORK_CHANGED", "Timeout", "chrome-error://")):
                raise
            time.sleep(0.5 * (attempt + 1))


def sign_in(page: Any, srv: TugServer, token: str = ADMIN_TOKEN, name: str = "local", server: str = "",
            namespace: str = "") -> None:
    """Sign in on `srv`'s dashboard; `server` names another cluster's API server instead,
    `namespace` limits the context to one namespace (a user bound by a RoleBinding)."""
    goto(page, f"{srv.url}/dashboard/")
    page.get_by_label("Context name").fill(name)
    if server:
        page.get_by_label("API server").fill(server)
    if namespace:
        page.get_by_label("Limit to namespace").fill(namespace)
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)


def deployment(ns: str, name: str, replicas: int) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n"
            f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec: {{containers: [{{name: app, image: busybox}}]}}\n")
