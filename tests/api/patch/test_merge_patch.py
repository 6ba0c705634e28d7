"""RFC 7386 JSON merge patch with the apiserver's (evanphx/json-patch) edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.api.errors import ApiError
from tugboat.api.patch import merge_patch


# The examples of RFC 7386 appendix A whose patch is an object or a list.
@pytest.mark.parametrize(
    ("doc", "patch", "want"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_rfc7386_examples(doc: Any, patch: Any, want: Any) -> None:
    assert merge_patch(doc, patch) == want


def test_labels_and_replicas_like_kubectl_scale() -> None:
    deploy = {"metadata": {"labels": {"app": "x", "old": "y"}}, "spec": {"replicas": 1, "paused": True}}
    got = merge_patch(deploy, {"metadata": {"labels": {"old": None, "new": "z"}}, "spec": {"replicas": 3}})
    assert got == {"metadata": {"labels": {"app": "x", "new": "z"}}, "spec": {"replicas": 3, "paused": True}}


def test_lists_are_replaced_whole_and_nulls_in_new_objects_pruned() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b"}]}}
    got = merge_patch(pod, {"spec": {"containers": [{"name": "c", "image": None}, None]}})
    assert got == {"spec": {"containers": [{"name": "c"}, None]}}


@pytest.mark.parametrize("patch", [None, "text", 3, True])
def test_null_and_scalar_patches_are_400(patch: Any) -> None:
    with pytest.raises(ApiError) as e:
        merge_patch({"a": 1}, patch)
    assert (e.value.code, e.value.reason, e.value.message) == (400, "BadRequest", "Invalid JSON Patch")


def test_inputs_are_not_mutated_and_result_is_independent() -> None:
    doc = {"a": {"b": [1, 2]}, "keep": {"x": 1}}
    patch = {"a": {"c": {"d": 1}}}
    got = merge_patch(doc, patch)
    got["keep"]["x"] = 2
    got["a"]["c"]["d"] = 5
    got["a"]["b"].append(3)
    assert doc == {"a": {"b": [1, 2]}, "keep": {"x": 1}}
    assert patch == {"a": {"c": {"d": 1}}}
