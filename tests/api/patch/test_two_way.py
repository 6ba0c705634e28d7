"""Client-side strategic merge patch computation: kubectl's patch shape, and round trips."""

from __future__ import annotations

from typing import Any

import pytest

from tugboat.api import schema
from tugboat.api.patch import create_two_way_merge_patch, strategic_merge_patch

POD = schema.for_kind("", "v1", "Pod")
DEPLOY = schema.for_kind("apps", "v1", "Deployment")


def test_patch_shape_matches_kubectl() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
                "spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]}}
    modified = {"metadata": {"labels": {"a": "1", "c": "3"}, "finalizers": ["y", "z"]},
                "spec": {"containers": [{"name": "a", "image": "i9"}, {"name": "n", "image": "new"}]}}
    assert create_two_way_merge_patch(original, modified, POD) == {
        "metadata": {
            "labels": {"b": None, "c": "3"},
            "finalizers": ["z"],
            "$deleteFromPrimitiveList/finalizers": ["x"],
            "$setElementOrder/finalizers": ["y", "z"],
        },
        "spec": {
            "containers": [{"name": "a", "image": "i9"}, {"name": "n", "image": "new"},
                           {"name": "b", "$patch": "delete"}],
            "$setElementOrder/containers": [{"name": "a"}, {"name": "n"}],
        },
    }


def test_retain_keys_directive_for_deployment_strategy() -> None:
    original = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    modified = {"spec": {"strategy": {"type": "Recreate"}}}
    patch = create_two_way_merge_patch(original, modified, DEPLOY)
    assert patch == {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}


def test_identical_objects_give_an_empty_patch() -> None:
    obj = {"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}
    assert create_two_way_merge_patch(obj, obj, POD) == {}


ROUND_TRIPS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
     {"spec": {"containers": [{"name": "c"}, {"name": "a", "image": "x"}]}}),
    ({"spec": {"containers": [{"name": "a", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                               "ports": [{"containerPort": 80}]}]}},
     {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "3"}],
                               "ports": [{"containerPort": 443}, {"containerPort": 80, "name": "http"}]}]}}),
    ({"spec": {"volumes": [{"name": "v", "emptyDir": {}}], "tolerations": [{"key": "a"}]}},
     {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}], "tolerations": [{"key": "b"}]}}),
    ({"metadata": {"finalizers": ["a", "b", "c"]}}, {"metadata": {"finalizers": ["c", "d", "a"]}}),
]


@pytest.mark.parametrize(("original", "modified"), ROUND_TRIPS)
def test_applying_the_patch_gives_modified(original: dict[str, Any], modified: dict[str, Any]) -> None:
    patch = create_two_way_merge_patch(original, modified, POD)
    assert strategic_merge_patch(original, patch, POD) == modified
