"""Storage backends behind one protocol (see backend.py), chosen by URL with `open_backend`.

- `sqlite:///var/lib/tugboat/state.db` or a plain path: the embedded default
- `etcd://host:port[,host:port...][/prefix]`: a real etcd v3 cluster, via its JSON gateway
- `memory://`: nothing persisted (tests, simulations)
"""

from __future__ import annotations

from urllib.parse import unquote

from .backend import Backend


def open_backend(url: str) -> Backend:
    """Construct (not start) the backend a URL names; call `await backend.start()` next."""
    if url.startswith("memory:"):
        from .memory import MemoryBackend

        return MemoryBackend()
    if url.startswith(("etcd://", "etcds://")):
        from .etcd import EtcdBackend

        scheme = "https" if url.startswith("etcds://") else "http"
        rest = url.split("://", 1)[1]
        hosts, _, prefix = rest.partition("/")
        endpoints = [f"{scheme}://{h.strip()}" for h in hosts.split(",") if h.strip()]
        if not endpoints:
            raise ValueError(f"no etcd endpoints in {url!r}")
        return EtcdBackend(endpoints, prefix=unquote(prefix) and "/" + unquote(prefix))
    if url.startswith("sqlite:"):
        path = url[len("sqlite:") :]
        if path.startswith("//"):
            path = path[2:]  # sqlite:///abs/path → /abs/path; sqlite://rel/path → rel/path
        if not path:
            raise ValueError(f"no path in {url!r}")
        from .sqlite import SqliteBackend

        return SqliteBackend(unquote(path))
    if "://" in url:
        raise ValueError(f"unsupported store URL {url!r} (use sqlite://, etcd:// or memory://)")
    from .sqlite import SqliteBackend

    return SqliteBackend(url)


__all__ = ["Backend", "open_backend"]
