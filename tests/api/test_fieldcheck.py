"""Unknown/duplicate field detection and the messages clients see for fieldValidation."""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api import fieldcheck as F
from tugboat.api import schema as S


def _deployment(**spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"any/key": "v"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                         "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                                         "env": [{"name": "A", "value": "b"}]}]},
            },
            **spec_extra,
        },
        "status": {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]},
    }


def test_valid_deployment_has_no_unknown_fields() -> None:
    assert F.unknown_fields(_deployment(), S.for_kind("apps", "v1", "Deployment")) == []


def test_unknown_fields_use_upstream_paths_in_document_order() -> None:
    d = _deployment(foo=1)
    d["metadata"]["bogus"] = True
    c = d["spec"]["template"]["spec"]["containers"][0]
    c["imagePullPolicyy"] = "Always"
    c["ports"][0]["hostPortt"] = 1
    d["extra"] = {"deep": 1}
    got = F.unknown_fields(d, S.for_kind("apps", "v1", "Deployment"))
    assert got == [
        "metadata.bogus",
        "spec.template.spec.containers[0].ports[0].hostPortt",
        "spec.template.spec.containers[0].imagePullPolicyy",
        "spec.foo",
        "extra",
    ]


def test_maps_and_free_form_objects_accept_any_key() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"whatever.key": "v"}}
    assert F.unknown_fields(cm, S.for_kind("", "v1", "ConfigMap")) == []
    # ControllerRevision.data is a RawExtension: anything inside is fine
    cr = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "x"}, "revision": 1,
          "data": {"spec": {"anything": {"goes": 1}}}}
    assert F.unknown_fields(cr, S.for_kind("apps", "v1", "ControllerRevision")) == []


def test_values_of_unexpected_type_are_not_unknown_fields() -> None:
    d = _deployment()
    d["spec"]["template"] = "not-an-object"
    d["spec"]["selector"] = None
    assert F.unknown_fields(d, S.for_kind("apps", "v1", "Deployment")) == []


CRD_SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "a": {"type": "string"},
    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"q": {"type": "integer"}}}},
    "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
    "tpl": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {"type": "object"}}},
}}}}


def test_custom_resource_schema_walk() -> None:
    obj = {"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "a", "zz": 1},
           "spec": {"a": "1", "b": 2, "free": {"any": {"thing": 1}}, "m": {"k": {"q": 1, "r": 2}},
                    "items": [{"n": "x"}, {"n": "y", "o": 1}],
                    "tpl": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "nope": 1}, "spec": {}}},
           "status": {}}
    assert F.unknown_fields(obj, CRD_SCHEMA, custom=True) == [
        "metadata.zz", "spec.b", "spec.m.k.r", "spec.items[1].o", "spec.tpl.metadata.nope", "status"]


def test_preserve_unknown_fields_at_root_accepts_everything() -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert F.unknown_fields({"apiVersion": "a/v1", "kind": "K", "spec": {"x": 1}}, schema, custom=True) == []


def test_duplicate_fields_found_with_paths() -> None:
    raw = b'{"spec": {"replicas": 1, "replicas": 2, "t": [{"a": 1, "b": {"c": 1, "c": 2}, "a": 3}]}}'
    assert F.duplicate_fields(raw, orjson.loads(raw)) == ["spec.replicas", "spec.t[0].b.c", "spec.t[0].a"]
    assert F.duplicate_fields(raw) == ["spec.replicas", "spec.t[0].b.c", "spec.t[0].a"]


def test_duplicate_check_is_not_fooled_by_strings_that_look_like_keys() -> None:
    raw = b'{"a": "x\\": \\"y\\":", "b": ["k:", "\\"q\\": 1"], "c": {"d": ":"}}'
    parsed = orjson.loads(raw)
    assert parsed["a"] == 'x": "y":'
    assert F.duplicate_fields(raw, parsed) == []
    assert F.duplicate_fields(b"{not json") == []


def test_strict_and_warn_messages_match_upstream() -> None:
    errs = F.field_errors(["spec.foo", "spec.bar"], ["spec.replicas"])
    assert errs == ['duplicate field "spec.replicas"', 'unknown field "spec.foo"', 'unknown field "spec.bar"']
    err = F.strict_error("Deployment", "v1", F.field_errors(["spec.foo"], []))
    status = err.to_status()
    assert status["code"] == 400 and status["reason"] == "BadRequest"
    assert status["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: '
                                 'strict decoding error: unknown field "spec.foo"')
    assert F.strict_message("Pod", "v1", errs).endswith(
        'strict decoding error: duplicate field "spec.replicas", unknown field "spec.foo", unknown field "spec.bar"')
    assert F.warnings(F.field_errors(["spec.foo"], [])) == ['unknown field "spec.foo"']


def test_strict_patch_error_is_invalid_patch_field() -> None:
    status = F.strict_patch_error('{"spec":{"foo":1}}', ['unknown field "spec.foo"']).to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "patch"
    assert status["message"].endswith('patch: Invalid value: "{\\"spec\\":{\\"foo\\":1}}": '
                                      'strict decoding error: unknown field "spec.foo"')
