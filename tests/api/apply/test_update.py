"""managedFields for ordinary writes (create/update/patch), the user's own managedFields, and
the fieldManager checks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tugboat.api.apply import apply, manager_from_user_agent, update_managed_fields, validate_field_manager
from tugboat.api.errors import ApiError

from .helpers import T0, T1, T2, copy, deployment, entry, fields


def write(old, new, schema, manager, now=T1, **kw):
    new = copy(new)
    update_managed_fields(copy(old) if old else None, new, manager=manager, schema=schema,
                          api_version=kw.pop("api_version", "apps/v1"), now=now, **kw)
    return new


def full_deployment():
    d = deployment([{"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                   replicas=1, selector={"matchLabels": {"app": "x"}})
    d["metadata"]["labels"] = {"app": "x"}
    d["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    return d


def test_create_owns_every_field_with_upstream_markers(deploy_schema):
    out = write(None, full_deployment(), deploy_schema, "kubectl-create", now=T0)
    assert out["metadata"]["managedFields"] == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": out["metadata"]["managedFields"][0]["fieldsV1"]}]
    # Maps and list items new on create carry ".", Go's zero-valued structs (spec, template) do not.
    assert fields(out, "kubectl-create") == (
        '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        '"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"c\\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{".":{},'
        '"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{},"f:protocol":{}}}}}}}}}')


def test_update_takes_changed_fields_from_other_managers(deploy_schema):
    live = apply(None, full_deployment(), manager="kubectl", schema=deploy_schema, force=False,
                 api_version="apps/v1", now=T0)
    new = copy(live)
    new["spec"]["replicas"] = 4
    new["metadata"]["labels"]["team"] = "a"
    out = write(live, new, deploy_schema, "kubectl-edit", now=T1)
    assert fields(out, "kubectl-edit", "Update") == '{"f:metadata":{"f:labels":{"f:team":{}}},"f:spec":{"f:replicas":{}}}'
    assert '"f:replicas"' not in fields(out, "kubectl") and '"f:app"' in fields(out, "kubectl")
    assert entry(out, "kubectl")["time"] == T0  # losing a field does not touch the loser's time
    assert [e["operation"] for e in out["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_update_that_changes_nothing_adds_no_entry(deploy_schema):
    live = write(None, full_deployment(), deploy_schema, "creator", now=T0)
    new = copy(live)
    new["metadata"]["resourceVersion"] = "42"
    out = write(live, new, deploy_schema, "someone", now=T2)
    assert entry(out, "someone") is None
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_field_leaves_every_owner_and_empty_entries_are_dropped(deploy_schema):
    live = write(None, deployment(replicas=1), deploy_schema, "a", now=T0)
    new = copy(live)
    del new["spec"]["replicas"]
    new["spec"]["paused"] = True
    out = write(live, new, deploy_schema, "b", now=T1)
    assert entry(out, "a") is None
    assert fields(out, "b") == '{"f:spec":{"f:paused":{}}}'


def test_same_manager_accumulates_and_refreshes_time(deploy_schema):
    live = write(None, deployment(replicas=1), deploy_schema, "a", now=T0)
    new = copy(live)
    new["spec"]["paused"] = True
    out = write(live, new, deploy_schema, "a", now=T2)
    assert fields(out, "a") == '{"f:spec":{"f:paused":{},"f:replicas":{}}}'
    assert entry(out, "a")["time"] == T2 and len(out["metadata"]["managedFields"]) == 1


def test_status_writes_are_tracked_separately(deploy_schema):
    live = write(None, deployment(replicas=1), deploy_schema, "kubectl", now=T0)
    new = copy(live)
    new["status"] = {"replicas": 1, "readyReplicas": 1}
    out = write(live, new, deploy_schema, "kube-controller-manager", subresource="status")
    assert fields(out, "kube-controller-manager", "Update", "status") == \
        '{"f:status":{"f:readyReplicas":{},"f:replicas":{}}}'
    # A main-resource write never owns status.
    new2 = copy(out)
    new2["status"]["replicas"] = 2
    out2 = write(out, new2, deploy_schema, "other")
    assert entry(out2, "other") is None


@pytest.mark.parametrize(("sent", "expect"), [
    (None, "kept"), ("same", "kept"), ([], "reset"), ([{}], "reset"), ("custom", "custom"), ("garbage", "kept"),
])
def test_client_sent_managed_fields(deploy_schema, sent, expect):
    live = write(None, deployment(replicas=1), deploy_schema, "a", now=T0)
    new = copy(live)
    custom = [{"manager": "z", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
               "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    if sent is None:
        del new["metadata"]["managedFields"]
    elif sent == "custom":
        new["metadata"]["managedFields"] = custom
    elif sent == "garbage":
        new["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    elif sent != "same":
        new["metadata"]["managedFields"] = sent
    out = write(live, new, deploy_schema, "b")
    got = out["metadata"].get("managedFields")
    if expect == "kept":
        assert got == live["metadata"]["managedFields"]
    elif expect == "reset":
        assert got is None
    else:
        assert got == custom


def test_subresource_writes_ignore_client_managed_fields(deploy_schema):
    live = write(None, deployment(replicas=1), deploy_schema, "a", now=T0)
    new = copy(live)
    new["metadata"]["managedFields"] = [{}]
    out = write(live, new, deploy_schema, "b", subresource="status")
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_update_entries_are_capped_at_ten(cm_schema):
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    for i in range(12):
        new = copy(obj)
        new["data"][f"k{i}"] = "v"
        update_managed_fields(obj, new, manager=f"m{i:02}", schema=cm_schema, api_version="v1",
                              now=f"2024-01-01T00:00:{i:02}Z")
        obj = new
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10 and managers[0] == "ancient-changes"
    assert fields(obj, "ancient-changes") == '{"f:data":{"f:k0":{},"f:k1":{},"f:k2":{}}}'
    assert "m00" not in managers and "m11" in managers


def test_set_lists_use_value_elements(cm_schema):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]}}
    out = copy(obj)
    update_managed_fields(None, out, manager="m", schema=cm_schema, api_version="v1", now=T0)
    assert orjson.dumps(out["metadata"]["managedFields"][0]["fieldsV1"]).decode() == \
        '{"f:metadata":{"f:finalizers":{".":{},"v:\\"a/b\\"":{}}}}'


@pytest.mark.parametrize(("ua", "manager"), [
    ("kubectl/v1.32.5 (linux/amd64) kubernetes/abc", "kubectl"),
    ("kube-controller-manager/v1.32.0 (linux/amd64)", "kube-controller-manager"),
    ("Python-urllib/3.11", "Python-urllib"),
    ("odd\x00name/1", "oddname"),
    ("x" * 200, "x" * 128),
    ("", ""),
])
def test_manager_from_user_agent(ua, manager):
    assert manager_from_user_agent(ua) == manager


def test_apply_without_field_manager_is_422_like_upstream():
    with pytest.raises(ApiError) as err:
        validate_field_manager("", apply=True)
    status = err.value.to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    assert status["details"] == {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
         "field": "fieldManager"}]}


def test_field_manager_length_and_characters():
    validate_field_manager("", apply=False)
    validate_field_manager("m" * 128, apply=True)
    with pytest.raises(ApiError) as err:
        validate_field_manager("m" * 129, apply=False, options_kind="UpdateOptions")
    assert err.value.message == ('UpdateOptions.meta.k8s.io "" is invalid: fieldManager: '
                                 'Too long: may not be more than 128 bytes')
    with pytest.raises(ApiError):
        validate_field_manager("bad\nname", apply=False)
