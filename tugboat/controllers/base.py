"""What every controller shares: a context (client, informers, clock, events) and a base class.

A controller module defines one subclass of `BaseController` and registers it with
`register`. The manager (manager.py) imports every module in this package, builds the
controllers that are enabled, starts the shared informers, waits for their caches, then runs
each controller's workers. Controllers never import each other.

Level-triggered discipline (DESIGN.md): `setup()` only wires informer handlers that ENQUEUE
keys; `reconcile(key)` reads current state from listers (read-only cache objects — copy with
`copy_obj` before changing), writes through `ctx.client`, is idempotent, and raises to be
retried with per-key back-off (or returns seconds to be re-run after).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tugboat.api.scheme import ResourceType, Scheme, default_scheme
from tugboat.client import (
    Client,
    Controller,
    EventRecorder,
    InformerFactory,
    Lister,
    WorkQueue,
    meta_namespace_key,
)
from tugboat.client.clock import RealClock

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    client: Client
    informers: InformerFactory
    clock: Any = field(default_factory=RealClock)
    scheme: Scheme = field(default_factory=default_scheme)
    # Per-controller options by controller name (e.g. {"node-lifecycle-controller":
    # {"node_monitor_grace_period": 10}}); a controller reads what it knows.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    _recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.scheme.get(group, version, plural)
        if rt is None:
            raise KeyError(f"unknown resource {group}/{version}/{plural}")
        return rt

    def lister(self, group: str, version: str, plural: str) -> Lister:
        return self.informers.lister(self.rt(group, version, plural))

    def recorder(self, component: str) -> EventRecorder:
        if component not in self._recorders:
            self._recorders[component] = EventRecorder(self.client, component, clock=self.clock)
        return self._recorders[component]


class BaseController:
    """Subclasses set `name`, implement `setup()` and `reconcile(key)`."""

    name: ClassVar[str] = ""
    workers: ClassVar[int] = 2
    # Enabled by default in `tug server`; some (e.g. an experimental one) may opt out.
    default_enabled: ClassVar[bool] = True

    def __init__(self, ctx: ControllerContext):
        self.ctx = ctx
        self.client = ctx.client
        # The queue's delays (add_after, back-off) run on the injected clock, so tests with a
        # FakeClock control them too.
        self.loop = Controller(self.name, self.reconcile, workers=self.workers,
                               queue=WorkQueue(self.name, clock=ctx.clock))

    def setup(self) -> None:
        """Create informers through ctx.informers and add handlers that call `self.enqueue`."""
        raise NotImplementedError

    async def reconcile(self, key: str) -> float | None:
        raise NotImplementedError

    def enqueue(self, obj: dict[str, Any]) -> None:
        self.loop.enqueue(meta_namespace_key(obj))

    def enqueue_key(self, key: str) -> None:
        self.loop.enqueue(key)

    async def run(self) -> None:
        await self.loop.run()

    async def stop(self) -> None:
        await self.loop.stop()


_REGISTRY: dict[str, Callable[[ControllerContext], BaseController]] = {}


def register(cls: type[BaseController]) -> type[BaseController]:
    """Class decorator: make a controller known to the manager under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, Callable[[ControllerContext], BaseController]]:
    """All controllers, importing every module of this package first."""
    import importlib
    import pkgutil

    import tugboat.controllers as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name not in ("base", "manager") and not m.name.startswith("_"):
            importlib.import_module(f"tugboat.controllers.{m.name}")
    return dict(_REGISTRY)
