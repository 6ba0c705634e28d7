"""RFC 6902 JSON patch as the apiserver applies it: operations, pointers, limits, statuses."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tugboat.api.errors import ApiError
from tugboat.api.patch import MAX_COPY_BYTES, json_patch

POD: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web", "a/b": "slash", "m~n": "tilde"}},
    "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]},
}


@pytest.mark.parametrize(
    ("ops", "check"),
    [
        ([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
         lambda r: r["metadata"]["labels"]["tier"] == "fe"),
        ([{"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}}],
         lambda r: [c["name"] for c in r["spec"]["containers"]] == ["a", "b", "c"]),
        ([{"op": "add", "path": "/spec/containers/0", "value": {"name": "z"}}],
         lambda r: [c["name"] for c in r["spec"]["containers"]] == ["z", "a", "b"]),
        ([{"op": "add", "path": "/spec/containers/2", "value": {"name": "end"}}],
         lambda r: r["spec"]["containers"][2] == {"name": "end"}),
        ([{"op": "remove", "path": "/spec/containers/0"}],
         lambda r: [c["name"] for c in r["spec"]["containers"]] == ["b"]),
        ([{"op": "replace", "path": "/spec/containers/1/image", "value": "redis:7"}],
         lambda r: r["spec"]["containers"][1]["image"] == "redis:7"),
        ([{"op": "remove", "path": "/metadata/labels/a~1b"}, {"op": "remove", "path": "/metadata/labels/m~0n"}],
         lambda r: r["metadata"]["labels"] == {"app": "web"}),
        ([{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/name"}],
         lambda r: "app" not in r["metadata"]["labels"] and r["metadata"]["labels"]["name"] == "web"),
        ([{"op": "copy", "from": "/spec/containers/0", "path": "/spec/containers/-"}],
         lambda r: r["spec"]["containers"][2] == {"name": "a", "image": "nginx"}),
        ([{"op": "test", "path": "/spec/containers/0/name", "value": "a"},
          {"op": "replace", "path": "/metadata/name", "value": "web2"}],
         lambda r: r["metadata"]["name"] == "web2"),
        ([{"op": "replace", "path": "", "value": {"kind": "Pod"}}], lambda r: r == {"kind": "Pod"}),
        ([], lambda r: r == POD),
    ],
)
def test_operations(ops: list[dict[str, Any]], check: Any) -> None:
    before = orjson.dumps(POD)
    result = json_patch(POD, ops)
    assert check(result)
    assert orjson.dumps(POD) == before, "the input document must not change"


def test_result_shares_nothing_with_inputs() -> None:
    value = {"name": "c", "env": [{"name": "X"}]}
    result = json_patch(POD, [{"op": "add", "path": "/spec/containers/-", "value": value},
                              {"op": "copy", "from": "/spec/containers/0", "path": "/spec/first"}])
    result["spec"]["containers"][-1]["env"].append({"name": "Y"})
    result["spec"]["first"]["image"] = "changed"
    assert value == {"name": "c", "env": [{"name": "X"}]}
    assert result["spec"]["containers"][0]["image"] == "nginx"


def test_null_patch_is_a_no_op() -> None:
    assert json_patch(POD, None) == POD


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("add", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([{"op": "add", "path": "/a", "value": 1}, 7], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ],
)
def test_undecodable_patch_is_400(ops: Any, message: str) -> None:
    with pytest.raises(ApiError) as e:
        json_patch(POD, ops)
    assert (e.value.code, e.value.reason, e.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "frobnicate", "path": "/a"}],
        [{"path": "/a", "value": 1}],
        [{"op": "add", "value": 1}],
        [{"op": "add", "path": "/metadata/labels/x"}],
        [{"op": "test", "path": "/metadata/name", "value": "other"}],
        [{"op": "test", "path": "/spec/containers/0/name", "value": ["a"]}],
        [{"op": "remove", "path": "/metadata/missing"}],
        [{"op": "replace", "path": "/metadata/missing", "value": 1}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
        [{"op": "add", "path": "/spec/containers/3", "value": {}}],
        [{"op": "add", "path": "/spec/containers/01", "value": {}}],
        [{"op": "remove", "path": "/spec/containers/-1"}],
        [{"op": "remove", "path": "/spec/containers/-"}],
        [{"op": "add", "path": "metadata/name", "value": "x"}],
        [{"op": "move", "from": "/metadata", "path": "/metadata/inner"}],
        [{"op": "copy", "from": "/missing", "path": "/x"}],
        [{"op": "add", "path": "/metadata/name/x", "value": 1}],
    ],
)
def test_failed_operations_are_422_invalid(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(ApiError) as e:
        json_patch(POD, ops)
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert e.value.message == "the server rejected our request due to an error in our request"


def test_a_failing_operation_applies_nothing() -> None:
    doc = {"a": 1}
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}])
    assert doc == {"a": 1}


def test_more_than_10000_operations_is_413_and_fast() -> None:
    ops = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}] * 100_000
    start = time.perf_counter()
    with pytest.raises(ApiError) as e:
        json_patch(POD, ops)
    assert time.perf_counter() - start < 1.0
    assert (e.value.code, e.value.reason) == (413, "RequestEntityTooLarge")
    assert e.value.message == ("Request entity too large: The allowed maximum operations in a JSON patch "
                               "is 10000, got 100000")


def test_exactly_10000_operations_are_allowed() -> None:
    ops = [{"op": "replace", "path": "/metadata/name", "value": f"n{i}"} for i in range(10_000)]
    assert json_patch(POD, ops)["metadata"]["name"] == "n9999"


def test_copies_beyond_3_mib_in_total_are_refused() -> None:
    blob = "x" * (1024 * 1024 - 16)
    doc = {"data": {"blob": blob}}
    three = [{"op": "copy", "from": "/data/blob", "path": f"/data/c{i}"} for i in range(3)]
    assert len(json_patch(doc, three)["data"]) == 4
    with pytest.raises(ApiError) as e:
        json_patch(doc, [*three, {"op": "copy", "from": "/data/blob", "path": "/data/c3"}])
    assert e.value.code == 422
    assert "exceeding the limit" in str(e.value.__cause__)
    assert str(MAX_COPY_BYTES) in str(e.value.__cause__)
