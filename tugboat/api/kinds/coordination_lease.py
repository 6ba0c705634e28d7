"""coordination.k8s.io/v1 Lease: upstream 1.32 validation.

Leases carry node heartbeats and leader election; the only rules are sane durations and
counters (and, for coordinated leader election, a preferred holder only with a strategy).
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError, forbidden, invalid, not_supported
from ..strategy import Strategy, register
from .core_common import as_dict, is_int

Obj = dict[str, Any]


def validate_lease_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not is_int(d) or d <= 0):
        errs.append(invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and (not is_int(t) or t < 0):
        errs.append(invalid("spec.leaseTransitions", t, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None and strategy != "OldestEmulationVersion":
        errs.append(not_supported("spec.strategy", strategy, ["OldestEmulationVersion"]))
    if spec.get("preferredHolder") and not strategy:
        errs.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return errs


class LeaseStrategy(Strategy):
    group, kind = "coordination.k8s.io", "Lease"

    def validate(self, obj: Obj) -> list[FieldError]:
        return super().validate(obj) + validate_lease_spec(as_dict(obj.get("spec")))


register(LeaseStrategy())
