"""FieldSet: the fieldsV1 wire shape, set algebra and the paths used in conflict messages."""

import orjson
import pytest

from tugboat.api.apply import FieldSet, path_string
from tugboat.api.apply.fieldset import pe_sort_key

# A Deployment entry as upstream writes it (kubectl create, kube 1.3x).
UPSTREAM = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {"f:spec": {"f:containers": {'k:{"name":"c"}': {
            ".": {}, "f:image": {}, "f:name": {},
            "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
        }}}},
    },
}


def test_fields_v1_round_trip_is_exact():
    fs = FieldSet.from_fields_v1(UPSTREAM)
    assert orjson.dumps(fs.to_fields_v1()) == orjson.dumps(UPSTREAM)


def test_output_is_sorted_fields_then_keys_then_values_with_dot_first():
    fs = FieldSet.from_fields_v1({"f:z": {}, "v:\"b\"": {}, 'k:{"a":1}': {}, "f:a": {"f:y": {}, ".": {}}, "i:3": {}})
    assert list(fs.to_fields_v1()) == ["f:a", "f:z", 'k:{"a":1}', 'v:"b"', "i:3"]
    assert list(fs.to_fields_v1()["f:a"]) == [".", "f:y"]


def test_key_elements_are_canonicalised():
    fs = FieldSet.from_fields_v1({'k:{"protocol": "TCP", "containerPort": 80}': {}})
    assert list(fs.to_fields_v1()) == ['k:{"containerPort":80,"protocol":"TCP"}']


@pytest.mark.parametrize("bad", [{"x:y": {}}, {"f:a": []}, {"k:notjson": {}}, {"i:x": {}}])
def test_malformed_fields_v1_is_rejected(bad):
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1(bad)


def test_set_algebra_works_on_members_not_prefixes():
    a = FieldSet.from_paths([("f:spec", "f:replicas"), ("f:spec", "f:paused")])
    b = FieldSet.from_paths([("f:spec", "f:replicas")])
    assert (a - b).paths() == [("f:spec", "f:paused")]
    assert (a & b).paths() == [("f:spec", "f:replicas")]
    assert (b | FieldSet.from_paths([("f:metadata", "f:labels", "f:x")])).has(("f:metadata", "f:labels", "f:x"))
    assert not (a - a)
    assert not a.has(("f:spec",))


def test_recursive_difference_drops_subtrees():
    a = FieldSet.from_paths([("f:status", "f:replicas"), ("f:spec", "f:replicas")])
    assert a.recursive_difference(FieldSet.from_paths([("f:status",)])).paths() == [("f:spec", "f:replicas")]


def test_value_order_numbers_before_strings():
    assert sorted(['v:"a"', "v:10", "v:9"], key=pe_sort_key) == ["v:9", "v:10", 'v:"a"']


@pytest.mark.parametrize(("path", "text"), [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"), '.spec.containers[name="c"].image'),
    (("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'), '.ports[containerPort=80,protocol="TCP"]'),
    (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
    (("f:args", "i:2"), ".args[2]"),
])
def test_path_string_matches_upstream(path, text):
    assert path_string(path) == text
