"""What every handler needs, bundled once per server: registry, scheme, watch cache, config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tugboat.api.scheme import Scheme
from tugboat.store.backend import Backend
from tugboat.util.clock import Clock

from .registry import Registry
from .watchcache import WatchCache


@dataclass
class Config:
    bookmark_interval: float = 60.0
    watch_min_timeout: int = 1800  # upstream min-request-timeout; actual is random in [t, 2t)
    external_address: str = "127.0.0.1:6443"
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    # In-server stand-in for the GC's orphan/foregroundDeletion finalizers (gcfinalizers.py);
    # switch off when the controller manager's garbage collector runs. Read at commit time.
    gc_finalizers: bool = True
    # Regular expressions of browser origins allowed to call this server (--cors-allowed-origins).
    cors_allowed_origins: tuple[str, ...] = ()


@dataclass
class Ctx:
    backend: Backend
    scheme: Scheme
    registry: Registry
    watch: WatchCache
    clock: Clock
    config: Config = field(default_factory=Config)
    crd_columns: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # allocators, crd manager, ns finalizer...
