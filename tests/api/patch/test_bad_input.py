"""Hostile inputs: absurd nesting must give 400, never RecursionError or a crash."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.api import schema
from tugboat.api.errors import ApiError
from tugboat.api.patch import json_patch, merge_patch, strategic_merge_patch

POD_SCHEMA = schema.for_kind("", "v1", "Pod")


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP = _nested(10_000)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda: merge_patch({"a": {}}, DEEP), 400),
        (lambda: merge_patch(DEEP, {"b": 1}), 400),
        (lambda: strategic_merge_patch({"metadata": {}}, {"metadata": {"annotations": DEEP}}, POD_SCHEMA), 400),
        (lambda: strategic_merge_patch({}, DEEP, POD_SCHEMA), 400),
        (lambda: strategic_merge_patch({}, DEEP, None), 400),
        (lambda: json_patch({}, [{"op": "add", "path": "/x", "value": DEEP}]), 400),
        (lambda: json_patch(DEEP, [{"op": "add", "path": "/x", "value": 1}]), 400),
        # comparing a shallow live value with a deep one simply fails the test operation
        (lambda: json_patch({"x": {"a": 1}}, [{"op": "test", "path": "/x", "value": DEEP}]), 422),
    ],
    ids=["merge-patch", "merge-doc", "smp-field", "smp-root", "smp-no-schema", "jp-value", "jp-doc", "jp-test"],
)
def test_10000_levels_deep_is_refused_cleanly(call: Any, code: int) -> None:
    with pytest.raises(ApiError) as e:
        call()
    assert e.value.code == code


def test_a_recursion_error_inside_becomes_400(monkeypatch: pytest.MonkeyPatch) -> None:
    import tugboat.api.patch.strategic as smp

    def explode(*_: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(smp, "_merge_map", explode)
    with pytest.raises(ApiError) as e:
        smp.strategic_merge_patch({}, {"a": 1}, POD_SCHEMA)
    assert (e.value.code, e.value.message) == (400, "exceeded max depth")
