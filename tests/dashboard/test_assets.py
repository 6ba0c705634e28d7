"""The dashboard's static file handler: what the browser gets, and what it must never get."""

from __future__ import annotations

from tugboat import dashboard
from tugboat.dashboard.assets import STATIC


def test_index_is_served_with_a_strict_content_security_policy() -> None:
    a = dashboard.serve("/dashboard/")
    assert a.status == 200 and a.content_type.startswith("text/html")
    assert b'<script type="module" src="js/app.js">' in a.body
    csp = a.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert a.headers["X-Content-Type-Options"] == "nosniff"


def test_modules_get_a_javascript_type_and_an_etag_that_revalidates() -> None:
    a = dashboard.serve("/dashboard/js/app.js")
    assert a.status == 200 and a.content_type.startswith("text/javascript")
    again = dashboard.serve("/dashboard/js/app.js", if_none_match=a.headers["ETag"])
    assert again.status == 304 and again.body == b""
    assert dashboard.serve("/dashboard/vendor/xterm.mjs").content_type.startswith("text/javascript")
    assert dashboard.serve("/dashboard/css/app.css").content_type.startswith("text/css")


def test_bare_prefix_redirects_so_relative_module_urls_resolve() -> None:
    a = dashboard.serve("/dashboard")
    assert a.status == 301 and a.headers["Location"] == "/dashboard/"


def test_nothing_outside_the_static_dir_and_no_hidden_files() -> None:
    for path in ("/dashboard/../assets.py", "/dashboard/js/../../assets.py", "/dashboard/%2e%2e/assets.py",
                 "/dashboard/.hidden", "/dashboard//etc/passwd", "/dashboard/nope.js"):
        assert dashboard.serve(path).status == 404, path


def test_only_get_and_head() -> None:
    assert dashboard.serve("/dashboard/", "POST").status == 405
    head = dashboard.serve("/dashboard/", "HEAD")
    assert head.status == 200 and head.body == b""


def test_path_matching() -> None:
    assert dashboard.is_dashboard_path("/dashboard") and dashboard.is_dashboard_path("/dashboard/x")
    assert not dashboard.is_dashboard_path("/dashboardx") and not dashboard.is_dashboard_path("/api/v1/pods")


def test_vendored_libraries_ship_with_their_licenses() -> None:
    vendor = STATIC / "vendor"
    for lib in ("xterm", "js-yaml"):
        assert "MIT" in (vendor / f"LICENSE.{lib}").read_text() or "Permission is hereby granted" in (
            vendor / f"LICENSE.{lib}").read_text()


def test_every_preloaded_module_exists() -> None:
    import re

    index = dashboard.serve("/dashboard/").body.decode()
    preloads = re.findall(r'rel="modulepreload" href="([^"]+)"', index)
    assert "js/views/overview.js" in preloads
    for href in preloads:
        assert dashboard.serve("/dashboard/" + href).status == 200, href
