"""RBAC, StorageClass, PriorityClass and CustomResourceDefinition rules."""

from __future__ import annotations

import copy

from tugboat.api.kinds.apiextensions_crd import CustomResourceDefinitionStrategy
from tugboat.api.kinds.rbac_roles import (
    ClusterRoleBindingStrategy,
    ClusterRoleStrategy,
    RoleBindingStrategy,
    RoleStrategy,
)
from tugboat.api.kinds.scheduling_priorityclass import PriorityClassStrategy
from tugboat.api.kinds.storage_class import StorageClassStrategy

ROLE, CROLE, RB, CRB = RoleStrategy(), ClusterRoleStrategy(), RoleBindingStrategy(), ClusterRoleBindingStrategy()
SC, PC, CRD = StorageClassStrategy(), PriorityClassStrategy(), CustomResourceDefinitionStrategy()


def create(s, o):
    s.prepare_for_create(o)
    s.default(o)
    return s.validate(o)


def update(s, new, old):
    s.prepare_for_update(new, old)
    s.default(new)
    return s.validate(new) + s.validate_update(new, old)


def msgs(errs):
    return [e.message for e in errs]


# ---- RBAC --------------------------------------------------------------------------------
def test_role_rules():
    r = {"metadata": {"name": "reader", "namespace": "d"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    assert create(ROLE, r) == []
    r["rules"] = [{"apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"]},
                  {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    assert msgs(create(ROLE, r)) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[1].resources: Required value: resource rules must supply at least one resource",
        'rules[2].nonResourceURLs: Invalid value: [...]: namespaced rules cannot apply to non-resource URLs']


def test_rbac_names_are_path_segments():
    cr = {"metadata": {"name": "system:node"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}
    assert create(CROLE, cr) == []
    cr["metadata"]["name"] = "a/b"
    assert msgs(create(CROLE, cr)) == ['metadata.name: Invalid value: "a/b": may not contain \'/\'']


def test_cluster_role_aggregation_rule():
    cr = {"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": []}}
    assert msgs(create(CROLE, cr)) == ["aggregationRule.clusterRoleSelectors: Required value: at least one "
                                       "clusterRoleSelector required if aggregationRule is non-nil"]


def binding(**kw):
    base = {"metadata": {"name": "b", "namespace": "d"},
            "roleRef": {"kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "d"}]}
    base.update(kw)
    return base


def test_role_binding_defaults():
    b = binding()
    assert create(RB, b) == []
    assert b["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert b["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert b["subjects"][1]["apiGroup"] == ""


def test_role_binding_validation():
    b = binding(roleRef={"kind": "Pod", "name": ""}, subjects=[{"kind": "Robot", "name": "r"}, {"kind": "User"}])
    assert [e.field for e in create(RB, b)] == ["roleRef.kind", "roleRef.name", "subjects[0].kind", "subjects[1].name"]
    crb = {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "x"},
           "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}
    assert msgs(create(CRB, crb)) == ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
                                      "subjects[0].namespace: Required value"]


def test_role_ref_immutable():
    old = binding()
    create(RB, old)
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "admin"
    assert msgs(update(RB, new, old)) == ["roleRef: Invalid value: {...}: cannot change roleRef"]
    new = copy.deepcopy(old)
    new["subjects"] = []
    assert update(RB, new, old) == []


# ---- StorageClass ------------------------------------------------------------------------
def test_storage_class_defaults_and_rules():
    sc = {"metadata": {"name": "fast"}, "provisioner": "tugboat.io/hostpath", "parameters": {"type": "ssd"}}
    assert create(SC, sc) == []
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")
    assert msgs(create(SC, {"metadata": {"name": "x"}})) == ["provisioner: Required value"]
    bad = {"metadata": {"name": "x"}, "provisioner": "p", "reclaimPolicy": "Recycle", "volumeBindingMode": "Later"}
    assert [e.field for e in create(SC, bad)] == ["reclaimPolicy", "volumeBindingMode"]


def test_storage_class_immutability():
    old = {"metadata": {"name": "fast"}, "provisioner": "a.io/p", "parameters": {"type": "ssd"}}
    create(SC, old)
    new = copy.deepcopy(old)
    new["provisioner"] = "b.io/p"
    new["parameters"] = {"type": "hdd"}
    new["volumeBindingMode"] = "WaitForFirstConsumer"
    assert msgs(update(SC, new, old)) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        "provisioner: Forbidden: updates to provisioner are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable']
    new = copy.deepcopy(old)
    new["allowVolumeExpansion"] = True
    assert update(SC, new, old) == []


# ---- PriorityClass -----------------------------------------------------------------------
def test_priority_class_rules():
    pc = {"metadata": {"name": "high"}, "value": 1000, "globalDefault": False}
    assert create(PC, pc) == []
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    assert msgs(create(PC, {"metadata": {"name": "system-mine"}, "value": 5})) == [
        "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
        "error: system-mine is not a known system priority class"]
    assert create(PC, {"metadata": {"name": "system-node-critical"}, "value": 2000001000}) == []
    assert msgs(create(PC, {"metadata": {"name": "huge"}, "value": 1000000001})) == [
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    new = copy.deepcopy(pc)
    new["value"] = 2000
    assert msgs(update(PC, new, pc)) == ["value: Forbidden: may not be changed in an update."]


# ---- CRD ---------------------------------------------------------------------------------
def crd(**spec):
    base = {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    base.update(spec)
    return {"metadata": {"name": "widgets.example.com"}, "spec": base}


def test_crd_defaults_and_stored_versions():
    c = crd()
    c["status"] = {"storedVersions": ["bogus"]}
    assert create(CRD, c) == []
    assert c["spec"]["names"]["singular"] == "widget" and c["spec"]["names"]["listKind"] == "WidgetList"
    assert c["spec"]["conversion"] == {"strategy": "None"}
    assert c["status"] == {"storedVersions": ["v1"]}
    new = copy.deepcopy(c)
    new["spec"]["versions"] = [{"name": "v1", "served": True, "storage": False,
                                "schema": {"openAPIV3Schema": {"type": "object"}}},
                               {"name": "v2", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": {"type": "object"}}}]
    assert update(CRD, new, c) == []
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert c["status"]["storedVersions"] == ["v1"]


def test_crd_name_and_names():
    c = crd()
    c["metadata"]["name"] = "gadgets.example.com"
    assert msgs(create(CRD, c)) == ['metadata.name: Invalid value: "gadgets.example.com": '
                                    'must be spec.names.plural+"."+spec.group']
    c = crd(names={"plural": "widgets"}, scope="Global")
    c["metadata"]["name"] = "widgets.example.com"
    assert [e.field for e in create(CRD, c)] == ["spec.scope", "spec.names.kind"]


def test_crd_versions_and_schemas():
    v = {"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}}
    errs = create(CRD, crd(versions=[v]))
    assert msgs(errs) == ["spec.versions: Invalid value: [...]: must have exactly one version marked as storage version"]
    errs = create(CRD, crd(versions=[{"name": "v1", "served": True, "storage": True},
                                     {"name": "v2", "served": True, "storage": False,
                                      "schema": {"openAPIV3Schema": {"type": "string"}}}]))
    assert msgs(errs) == ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
                          'spec.versions[1].schema.openAPIV3Schema.type: Invalid value: "string": '
                          "must be object at the root"]
    errs = create(CRD, crd(versions=[]))
    assert [e.field for e in errs] == ["spec.versions"]
