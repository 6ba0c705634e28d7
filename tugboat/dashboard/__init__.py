"""The built-in web dashboard (issue 9): a single-page app served by `tug server` at /dashboard/.

Why it is static files only: the page talks to the SAME API server from the browser with the
signed-in user's own bearer token (or client certificate), so RBAC applies to everything it
shows and does, and the server needs no session state, no template engine and no build step.
`assets.serve` is the one entry point the API server calls; it knows nothing about aiohttp.
"""

from .assets import PREFIX, Asset, is_dashboard_path, serve

__all__ = ["PREFIX", "Asset", "is_dashboard_path", "serve"]
