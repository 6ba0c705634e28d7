import copy

import pytest

from tugboat.api import crd
from tugboat.api.scheme import Scheme

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": r"^(\S+ ){4}\S+$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "image": {"type": "string", "minLength": 1, "maxLength": 20},
                "mode": {"type": "string", "enum": ["A", "B"]},
                "port": {"x-kubernetes-int-or-string": True},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "note": {"type": "string", "nullable": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object", "properties": {
                                 "x": {"type": "string", "default": "dx"}}}}},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "size": {"type": "integer", "default": 5}}}},
                "choice": {"type": "string", "anyOf": [{"enum": ["x"]}, {"pattern": "^y"}]},
            },
        },
        "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    },
}


def obj(**spec):
    return {"apiVersion": "example.com/v1", "kind": "CronTab", "metadata": {"name": "c"},
            "spec": {"cronSpec": "* * * * */5", **spec}}


@pytest.mark.parametrize("spec, message", [
    ({"replicas": "3"}, 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: '
                        '"string"'),
    ({"replicas": True}, 'spec.replicas: Invalid value: "boolean": spec.replicas in body must be of type integer: '
                         '"boolean"'),
    ({"replicas": 0}, "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"),
    ({"replicas": 11}, "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
    ({"ratio": 0}, "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"),
    ({"cronSpec": "bad"}, 'spec.cronSpec: Invalid value: "bad": spec.cronSpec in body should match '
                          "'^(\\S+ ){4}\\S+$'"),
    ({"image": ""}, 'spec.image: Invalid value: "": spec.image in body should be at least 1 chars long'),
    ({"image": "x" * 21}, "spec.image: Too long: may not be more than 20 bytes"),
    ({"mode": "C"}, 'spec.mode: Unsupported value: "C": supported values: "A", "B"'),
    ({"when": "yesterday"}, 'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: '
                            '"yesterday"'),
    ({"tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
    ({"tags": ["a", "a"]}, "spec.tags in body shouldn't contain duplicates"),
    ({"tags": ["a", 1]}, 'spec.tags[1]: Invalid value: "integer": spec.tags[1] in body must be of type string: '
                         '"integer"'),
    ({"labels": {"a": 1}}, 'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string'),
    ({"port": 1.5}, 'spec.port: Invalid value: "number": spec.port in body must be of type integer,string'),
    ({"image": None}, 'spec.image: Invalid value: "null": spec.image in body must be of type string: "null"'),
    ({"choice": "z"}, "spec.choice in body must validate at least one schema (anyOf)"),
])
def test_validation_errors(spec, message):
    errs = crd.validate(obj(**spec), SCHEMA)
    assert len(errs) == 1, errs
    assert message in errs[0].message, errs[0].message


def test_required_and_valid_objects():
    o = obj(replicas=3, port="http", note=None, when="2024-01-01T00:00:00Z", choice="yes", labels={"a": "b"},
            free={"anything": [1, {"x": None}]}, ratio=0.5)
    assert crd.validate(o, SCHEMA) == []
    assert crd.validate(obj(port=8080, replicas=2.0), SCHEMA) == []
    errs = crd.validate({"spec": {}}, SCHEMA)
    assert [e.message for e in errs] == ["spec.cronSpec: Required value"]
    assert errs[0].reason == "FieldValueRequired" and errs[0].field == "spec.cronSpec"


def test_prune_reports_and_removes_unknown_fields():
    o = obj(bogus=1, free={"kept": True}, labels={"any": "x"}, items=[{"name": "a", "extra": 1}],
            template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t", "junk": 1},
                      "spec": {"x": "1", "y": "2"}})
    o["metadata"]["bogusMeta"] = 1
    o["status"] = {"ok": True, "nope": 1}
    o["extraTop"] = {}
    removed = crd.prune(o, SCHEMA)
    assert removed == ["extraTop", "metadata.bogusMeta", "spec.bogus", "spec.items[0].extra",
                       "spec.template.metadata.junk", "spec.template.spec.y", "status.nope"]
    assert o["apiVersion"] == "example.com/v1" and o["kind"] == "CronTab" and o["metadata"] == {"name": "c"}
    assert o["spec"]["free"] == {"kept": True} and o["spec"]["labels"] == {"any": "x"}
    assert o["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
                                     "spec": {"x": "1"}}
    assert crd.prune(o, SCHEMA) == []


def test_defaults():
    o = obj(items=[{"name": "a"}, {"name": "b", "size": 1}], template={"spec": {}}, replicas=None)
    crd.apply_defaults(o, SCHEMA)
    assert o["spec"]["replicas"] == 1
    assert o["spec"]["items"] == [{"name": "a", "size": 5}, {"name": "b", "size": 1}]
    assert o["spec"]["template"]["spec"] == {"x": "dx"}
    o2 = obj()
    crd.apply_defaults(o2, SCHEMA)
    o2["spec"]["replicas"] = 9
    o3 = obj()
    crd.apply_defaults(o3, SCHEMA)
    assert o3["spec"]["replicas"] == 1  # defaults are copied, never shared


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.example.com"},
    "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"],
                  "categories": ["all"]},
        "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA},
             "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                      "statusReplicasPath": ".status.replicas",
                                                      "labelSelectorPath": ".status.selector"}},
             "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}]},
            {"name": "v1beta1", "served": True, "storage": False, "schema": {"openAPIV3Schema": SCHEMA}},
            {"name": "v1alpha1", "served": False, "storage": False, "schema": {"openAPIV3Schema": SCHEMA}},
        ],
    },
}


def test_resource_types():
    types = crd.resource_types(CRD)
    assert [t.version for t in types] == ["v1", "v1beta1"]
    v1, beta = types
    assert (v1.group, v1.kind, v1.plural, v1.singular, v1.namespaced) == ("example.com", "CronTab", "crontabs",
                                                                         "crontab", True)
    assert v1.short_names == ("ct",) and v1.categories == ("all",) and v1.custom
    assert [s.name for s in v1.subresources] == ["status", "scale"]
    assert v1.subresource("scale").kind == "Scale" and v1.subresource("status").kind == "CronTab"
    assert beta.subresources == () and beta.store_version == "v1" and v1.key_prefix == beta.key_prefix
    s = Scheme()
    for t in types:
        s.add(t)
    assert [t.version for t in s.storage_types()] == ["v1"]
    assert crd.scale_paths(crd.version(CRD, "v1")) == (".spec.replicas", ".status.replicas", ".status.selector")
    assert crd.scale_paths(crd.version(CRD, "v1beta1")) is None
    assert crd.printer_columns(CRD, "v1")[0]["name"] == "Spec" and crd.printer_columns(CRD, "v1beta1") == []
    assert crd.storage_version(CRD) == "v1" and crd.schema_of(CRD, "v1") is SCHEMA
    cluster = copy.deepcopy(CRD)
    cluster["spec"]["scope"] = "Cluster"
    assert not crd.resource_types(cluster)[0].namespaced


def test_crd_schema_checks():
    assert crd.validate_crd_schema(CRD) == []
    bad = copy.deepcopy(CRD)
    s = bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    s["properties"]["spec"]["properties"]["untyped"] = {"description": "no type"}
    s["properties"]["spec"]["properties"]["list"] = {"type": "array"}
    s["properties"]["spec"]["properties"]["ref"] = {"$ref": "#/x", "type": "string"}
    s["properties"]["metadata"] = {"type": "object", "properties": {"labels": {"type": "object"}}}
    bad["spec"]["versions"][1]["schema"] = {}
    msgs = [e.message for e in crd.validate_crd_schema(bad)]
    base = "spec.versions[0].schema.openAPIV3Schema"
    assert f"{base}.properties[spec].properties[untyped].type: Required value: must not be empty for specified " \
           "object fields" in msgs
    assert f"{base}.properties[spec].properties[list].items: Required value: must be specified" in msgs
    assert f"{base}.properties[spec].properties[ref].$ref: Forbidden: $ref is not supported" in msgs
    assert any(m.startswith(f"{base}.properties[metadata]: Forbidden: must not specify anything other than name")
               for m in msgs)
    assert "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required" in msgs
