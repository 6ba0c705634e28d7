"""Server-side apply: create, re-apply, pruning, shared and split ownership, conflicts, force."""

from __future__ import annotations

import orjson
import pytest

from tugboat.api.apply import apply, update_managed_fields
from tugboat.api.errors import ApiError

from .helpers import T0, T1, T2, copy, deployment, entry, fields


def do_apply(live, cfg, schema, manager="kubectl", force=False, now=T1):
    return apply(copy(live) if live else None, copy(cfg), manager=manager, schema=schema, force=force,
                 api_version="apps/v1", now=now)


def test_create_records_upstream_fields_v1(deploy_schema):
    cfg = deployment([{"name": "c", "image": "nginx"}], replicas=3)
    out = do_apply(None, cfg, deploy_schema, now=T0)
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "nginx"}]
    mf = out["metadata"]["managedFields"]
    assert mf == [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
                   "fieldsType": "FieldsV1", "fieldsV1": mf[0]["fieldsV1"]}]
    assert orjson.dumps(mf[0]["fieldsV1"]).decode() == (
        '{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":'
        '{"k:{\\"name\\":\\"c\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}')


def test_reapply_unchanged_is_a_noop_and_keeps_the_time(deploy_schema):
    cfg = deployment([{"name": "c", "image": "nginx"}], replicas=3)
    first = do_apply(None, cfg, deploy_schema, now=T0)
    first["metadata"]["uid"] = "u1"
    again = do_apply(first, cfg, deploy_schema, now=T2)
    assert again == first
    assert again["metadata"]["managedFields"][0]["time"] == T0


@pytest.mark.parametrize(("before", "after", "gone"), [
    ({"replicas": 3, "minReadySeconds": 5}, {"replicas": 3}, ("spec", "minReadySeconds")),
    ({"replicas": 3, "paused": True}, {"paused": True}, ("spec", "replicas")),
])
def test_field_dropped_from_config_is_removed(deploy_schema, before, after, gone):
    live = do_apply(None, deployment(**before), deploy_schema, now=T0)
    out = do_apply(live, deployment(**after), deploy_schema, now=T1)
    assert gone[1] not in out[gone[0]]
    assert f'"f:{gone[1]}"' not in fields(out, "kubectl")
    assert entry(out, "kubectl")["time"] == T1


def test_dropped_label_and_container_are_removed(deploy_schema):
    cfg = deployment([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])
    cfg["metadata"]["labels"] = {"keep": "1", "drop": "1"}
    live = do_apply(None, cfg, deploy_schema, now=T0)
    cfg2 = deployment([{"name": "a", "image": "x"}])
    cfg2["metadata"]["labels"] = {"keep": "1"}
    out = do_apply(live, cfg2, deploy_schema)
    assert out["metadata"]["labels"] == {"keep": "1"}
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["a"]


def test_field_dropped_by_one_applier_stays_if_another_owns_it(deploy_schema):
    live = do_apply(None, deployment(replicas=3), deploy_schema, manager="a", now=T0)
    live = do_apply(live, deployment(replicas=3), deploy_schema, manager="b", now=T0)
    assert entry(live, "a") and entry(live, "b")  # same value: shared, no conflict
    out = do_apply(live, deployment(paused=False), deploy_schema, manager="a")
    assert out["spec"]["replicas"] == 3
    assert '"f:replicas"' not in fields(out, "a") and '"f:replicas"' in fields(out, "b")


def test_field_owned_by_an_updater_is_not_pruned(deploy_schema):
    live = do_apply(None, deployment(replicas=3, minReadySeconds=1), deploy_schema, now=T0)
    new = copy(live)
    new["spec"]["minReadySeconds"] = 7
    update_managed_fields(live, new, manager="editor", schema=deploy_schema, api_version="apps/v1", now=T1)
    out = do_apply(new, deployment(replicas=3), deploy_schema, now=T2)
    assert out["spec"]["minReadySeconds"] == 7


def test_two_appliers_own_different_containers(deploy_schema):
    live = do_apply(None, deployment([{"name": "a", "image": "x"}]), deploy_schema, manager="one", now=T0)
    live = do_apply(live, deployment([{"name": "b", "image": "y"}]), deploy_schema, manager="two", now=T1)
    names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert names == ["a", "b"]
    assert 'k:{\\"name\\":\\"a\\"}' in fields(live, "one") and '\\"b\\"' not in fields(live, "one")
    assert 'k:{\\"name\\":\\"b\\"}' in fields(live, "two") and '\\"a\\"' not in fields(live, "two")
    # "one" changes its image: no conflict, "two"'s container untouched.
    out = do_apply(live, deployment([{"name": "a", "image": "x2"}]), deploy_schema, manager="one", now=T2)
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "x2"}, {"name": "b", "image": "y"}]
    # "two" touching "one"'s image conflicts.
    with pytest.raises(ApiError) as err:
        do_apply(out, deployment([{"name": "b", "image": "y"}, {"name": "a", "image": "evil"}]), deploy_schema,
                 manager="two")
    assert err.value.causes[0].field == '.spec.template.spec.containers[name="a"].image'


def test_list_merge_order_follows_upstream(deploy_schema):
    cs = [{"name": n, "image": "i"} for n in ("a", "b", "c")]
    live = do_apply(None, deployment(cs), deploy_schema, manager="one", now=T0)
    out = do_apply(live, deployment([{"name": "d", "image": "i"}, {"name": "b", "image": "i"}]), deploy_schema,
                   manager="two")
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["a", "d", "b", "c"]


def scaled(live, schema, manager, subresource="", replicas=5):
    new = copy(live)
    new["spec"]["replicas"] = replicas
    update_managed_fields(live, new, manager=manager, schema=schema, api_version="apps/v1", now=T1,
                          subresource=subresource)
    return new


@pytest.mark.parametrize(("manager", "subresource", "who"), [
    ("kube-controller-manager", "", '"kube-controller-manager" using apps/v1'),
    ("kubectl.1.32", "scale", '"kubectl.1.32" with subresource "scale" using apps/v1'),
    ("kubectl-client-side-apply", "", '"kubectl-client-side-apply" using apps/v1'),
])
def test_conflict_with_updater_on_replicas(deploy_schema, manager, subresource, who):
    live = do_apply(None, deployment(replicas=2), deploy_schema, manager="kubectl", now=T0)
    live = scaled(live, deploy_schema, manager, subresource)
    assert fields(live, manager, "Update", subresource) == '{"f:spec":{"f:replicas":{}}}'
    assert entry(live, "kubectl") is None  # its only field was taken
    with pytest.raises(ApiError) as err:
        do_apply(live, deployment(replicas=2), deploy_schema, manager="kubectl", now=T2)
    e = err.value
    assert (e.code, e.reason) == (409, "Conflict")
    assert e.message == f"Apply failed with 1 conflict: conflict with {who}: .spec.replicas"
    assert e.to_status()["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": ".spec.replicas"}]}


def test_force_takes_ownership(deploy_schema):
    live = do_apply(None, deployment(replicas=2, paused=False), deploy_schema, manager="kubectl", now=T0)
    live = scaled(live, deploy_schema, "kube-controller-manager")
    out = do_apply(live, deployment(replicas=2, paused=False), deploy_schema, manager="kubectl", force=True,
                   now=T2)
    assert out["spec"]["replicas"] == 2
    assert entry(out, "kube-controller-manager") is None
    assert fields(out, "kubectl") == '{"f:spec":{"f:paused":{},"f:replicas":{}}}'
    assert entry(out, "kubectl")["time"] == T2


def test_same_value_is_shared_without_conflict(deploy_schema):
    live = do_apply(None, deployment(replicas=2), deploy_schema, manager="kubectl", now=T0)
    live = scaled(live, deploy_schema, "hpa", replicas=4)
    out = do_apply(live, deployment(replicas=4), deploy_schema, manager="kubectl", now=T2)
    assert fields(out, "kubectl") == fields(out, "hpa") == '{"f:spec":{"f:replicas":{}}}'


def test_multiple_conflicts_message(deploy_schema):
    live = do_apply(None, deployment(replicas=2, paused=False, minReadySeconds=1), deploy_schema, manager="a",
                    now=T0)
    with pytest.raises(ApiError) as err:
        do_apply(live, deployment(replicas=3, paused=True), deploy_schema, manager="b")
    assert err.value.message == 'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.paused\n- .spec.replicas'
    assert [c.field for c in err.value.causes] == [".spec.paused", ".spec.replicas"]


def test_apply_does_not_own_status_or_identity_fields(deploy_schema):
    cfg = deployment(replicas=1)
    cfg["status"] = {"replicas": 9}
    cfg["metadata"]["uid"] = "x"
    out = do_apply(None, cfg, deploy_schema)
    assert fields(out, "kubectl") == '{"f:spec":{"f:replicas":{}}}'


@pytest.mark.parametrize(("body", "message"), [
    ({"metadata": {"name": "d"}}, "invalid object type: /, Kind="),
    ({"apiVersion": "apps/v1", "metadata": {"name": "d"}}, "invalid object type: apps/v1, Kind="),
    ({"apiVersion": "apps/v1beta1", "kind": "Deployment"}, "invalid object type: apps/v1beta1, Kind=Deployment"),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "managedFields": []}},
     "metadata.managedFields must be nil"),
])
def test_bad_apply_bodies_are_400(deploy_schema, body, message):
    with pytest.raises(ApiError) as err:
        apply(None, body, manager="m", schema=deploy_schema, force=False, api_version="apps/v1", now=T0)
    assert (err.value.code, err.value.message) == (400, message)


def test_duplicate_keys_in_config_are_rejected(deploy_schema):
    cfg = deployment([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])
    with pytest.raises(ApiError) as err:
        do_apply(None, cfg, deploy_schema)
    assert err.value.code == 500
    assert 'duplicate entries for key [name="a"]' in err.value.message


def test_kubectl_server_side_upgrade_from_client_side_apply(deploy_schema):
    csa = deployment(replicas=2)
    live = copy(csa)
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": orjson.dumps(csa).decode()}
    update_managed_fields(None, live, manager="kubectl-client-side-apply", schema=deploy_schema,
                          api_version="apps/v1", now=T0)
    out = do_apply(live, deployment(replicas=3), deploy_schema, manager="kubectl", now=T1)
    assert out["spec"]["replicas"] == 3
    annotation = out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert orjson.loads(annotation) == deployment(replicas=3) and annotation.endswith("\n")
    assert '"f:replicas"' in fields(out, "kubectl") and '"f:replicas"' not in fields(out, "kubectl-client-side-apply")
    # Another manager name gets no such pass.
    with pytest.raises(ApiError):
        do_apply(live, deployment(replicas=3), deploy_schema, manager="other")
    # Nor does kubectl once the live value no longer matches the annotation.
    drifted = scaled(live, deploy_schema, "kubectl-client-side-apply", replicas=7)
    with pytest.raises(ApiError):
        do_apply(drifted, deployment(replicas=3), deploy_schema, manager="kubectl")


def test_custom_resource_without_schema_is_granular_maps_atomic_lists():
    cfg = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "finalizers": ["f1"]},
           "spec": {"size": 1, "tags": ["a", "b"], "nested": {"x": 1}}}
    out = apply(None, cfg, manager="m", schema=None, force=False, api_version="example.com/v1", now=T0)
    assert orjson.dumps(out["metadata"]["managedFields"][0]["fieldsV1"]).decode() == (
        '{"f:metadata":{"f:finalizers":{"v:\\"f1\\"":{}}},"f:spec":{".":{},"f:nested":{".":{},"f:x":{}},'
        '"f:size":{},"f:tags":{}}}')
    out2 = apply(out, {**cfg, "spec": {"size": 2}}, manager="m", schema=None, force=False,
                 api_version="example.com/v1", now=T1)
    assert out2["spec"] == {"size": 2}


def test_null_in_config_removes_the_value_but_keeps_ownership(deploy_schema):
    live = do_apply(None, deployment(replicas=3, paused=True), deploy_schema, now=T0)
    out = do_apply(live, deployment(replicas=None, paused=True), deploy_schema)
    assert "replicas" not in out["spec"]
    assert fields(out, "kubectl") == '{"f:spec":{"f:paused":{},"f:replicas":{}}}'


def test_apply_through_status_owns_only_status(deploy_schema):
    live = do_apply(None, deployment(replicas=1), deploy_schema, now=T0)
    cfg = deployment(replicas=9)
    cfg["status"] = {"replicas": 1}
    out = apply(copy(live), cfg, manager="ctl", schema=deploy_schema, force=False, api_version="apps/v1",
                now=T1, subresource="status")
    assert fields(out, "ctl", "Apply", "status") == '{"f:status":{"f:replicas":{}}}'
    assert out["status"] == {"replicas": 1}
