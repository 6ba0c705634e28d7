"""The pure rules behind taint eviction and zone disruption (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.controllers import nodelifecycle_taints as nt

T_UNREACH = {"key": nt.TAINT_UNREACHABLE, "effect": "NoExecute"}
T_CUSTOM = {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}


@pytest.mark.parametrize(("tol", "taint", "want"), [
    ({"key": nt.TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, T_UNREACH, True),
    ({"operator": "Exists"}, T_CUSTOM, True),  # empty key + Exists tolerates everything
    ({"key": "dedicated", "value": "gpu"}, T_CUSTOM, True),  # operator defaults to Equal
    ({"key": "dedicated", "value": "cpu"}, T_CUSTOM, False),
    ({"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}, T_CUSTOM, False),
])
def test_tolerates(tol: dict[str, Any], taint: dict[str, Any], want: bool) -> None:
    assert nt.tolerates(tol, taint) is want


def test_eviction_delay_is_the_smallest_matching_toleration() -> None:
    tols = [{"key": nt.TAINT_UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300},
            {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]
    matched = nt.matching_tolerations([T_UNREACH], tols)
    assert matched is not None and nt.min_toleration_seconds(matched) == 30
    assert nt.matching_tolerations([T_UNREACH, T_CUSTOM], tols[:1]) is None  # one taint not tolerated
    assert nt.min_toleration_seconds([{"operator": "Exists"}]) == -1  # forever
    assert nt.min_toleration_seconds([{"operator": "Exists", "tolerationSeconds": -5}]) == 0


@pytest.mark.parametrize(("ready", "not_ready", "state"), [
    (3, 0, nt.ZONE_NORMAL), (0, 2, nt.ZONE_FULL), (1, 2, nt.ZONE_NORMAL),  # 2 unhealthy never partial
    (2, 3, nt.ZONE_PARTIAL), (10, 3, nt.ZONE_NORMAL),
])
def test_zone_state(ready: int, not_ready: int, state: str) -> None:
    assert nt.zone_state(ready, not_ready) == state


def test_condition_taints() -> None:
    node = {"spec": {"unschedulable": True}, "status": {"conditions": [
        {"type": "Ready", "status": "False"}, {"type": "PIDPressure", "status": "True"},
        {"type": "MemoryPressure", "status": "False"}]}}
    assert nt.condition_no_schedule_keys(node) == {nt.TAINT_NOT_READY, nt.TAINT_PID_PRESSURE, nt.TAINT_UNSCHEDULABLE}
