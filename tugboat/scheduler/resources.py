"""Resource arithmetic on plain ints: cpu in millicores, everything else in units (bytes, counts).

Quantity strings are parsed once (memoised: clusters reuse a handful of request values) and
pod requests are computed the way upstream's resourcehelper.PodRequests does it: the sum of the
app containers plus restartable (sidecar) init containers, or the largest regular init container
plus the sidecars started before it, whichever is larger, plus the pod overhead. The "non-zero"
variant counts a container with no cpu/memory request as 100m / 200Mi, so the scoring plugins
do not pile request-less pods on one node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from tugboat.api.quantity import quantity

CPU, MEMORY, PODS, EPHEMERAL = "cpu", "memory", "pods", "ephemeral-storage"
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
Resources = dict[str, int]


@lru_cache(maxsize=4096)
def parse_amount(name: str, value: str) -> int:
    """cpu → millicores, anything else → units (rounded up), as the scheduler compares them."""
    try:
        q = quantity(value)
    except ValueError:
        return 0
    return q.milli_value() if name == CPU else q.value()


def parse_list(rl: Mapping[str, Any] | None) -> Resources:
    if not rl:
        return {}
    return {k: parse_amount(k, v if isinstance(v, str) else str(v)) for k, v in rl.items()}


def _add(into: Resources, r: Mapping[str, int]) -> None:
    for k, v in r.items():
        into[k] = into.get(k, 0) + v


def _max(into: Resources, r: Mapping[str, int]) -> None:
    for k, v in r.items():
        if v > into.get(k, 0):
            into[k] = v


def _container_requests(c: Mapping[str, Any], non_zero: bool) -> Resources:
    r = parse_list((c.get("resources") or {}).get("requests"))
    if non_zero:
        r = {CPU: r.get(CPU) or DEFAULT_MILLI_CPU, MEMORY: r.get(MEMORY) or DEFAULT_MEMORY}
    return r


def pod_requests(spec: Mapping[str, Any], non_zero: bool = False) -> Resources:
    """Effective requests of a pod spec (see the module docstring)."""
    apps: Resources = {}
    for c in spec.get("containers") or ():
        _add(apps, _container_requests(c, non_zero))
    sidecars: Resources = {}
    init_max: Resources = {}
    for c in spec.get("initContainers") or ():
        r = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, r)
            _max(init_max, sidecars)
        else:
            step = dict(sidecars)
            _add(step, r)
            _max(init_max, step)
    _add(apps, sidecars)
    _max(apps, init_max)
    overhead = spec.get("overhead")
    if overhead:
        ov = parse_list(overhead)
        if non_zero:
            ov = {k: v for k, v in ov.items() if k in (CPU, MEMORY)}
        _add(apps, ov)
    return {k: v for k, v in apps.items() if v}


def is_scalar(name: str) -> bool:
    """Extended and hugepages resources: checked for fit like cpu, never scored."""
    return name not in (CPU, MEMORY, PODS, EPHEMERAL)


def host_ports(containers: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    out = []
    for c in containers:
        for p in c.get("ports") or ():
            hp = p.get("hostPort") or 0
            if hp > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp)))
    return out
