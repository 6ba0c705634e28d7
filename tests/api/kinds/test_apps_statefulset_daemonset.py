"""StatefulSet, DaemonSet and ControllerRevision defaults and validation."""

from __future__ import annotations

import copy

from tugboat.api.kinds.apps_daemonset import (
    TEMPLATE_GENERATION,
    ControllerRevisionStrategy,
    DaemonSetStrategy,
)
from tugboat.api.kinds.apps_statefulset import StatefulSetStrategy

STS = StatefulSetStrategy()
DS = DaemonSetStrategy()
CR = ControllerRevisionStrategy()


def template(restart="Always"):
    return {"metadata": {"labels": {"app": "db"}},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}}


def obj(kind, **spec):
    base = {"selector": {"matchLabels": {"app": "db"}}, "template": template()}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "db", "namespace": "default"}, "spec": base}


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


# ---- StatefulSet -------------------------------------------------------------------------
def test_statefulset_defaults():
    s = obj("StatefulSet", volumeClaimTemplates=[{"metadata": {"name": "data"},
                                                  "spec": {"accessModes": ["ReadWriteOnce"]}}])
    assert create(STS, s) == []
    spec = s["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert "serviceName" not in spec  # optional in 1.32
    claim = spec["volumeClaimTemplates"][0]
    assert claim["apiVersion"] == "v1" and claim["kind"] == "PersistentVolumeClaim"
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}


def test_statefulset_on_delete_with_rolling_update_invalid():
    s = obj("StatefulSet", updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}})
    assert msgs(create(STS, s)) == [
        "spec.updateStrategy.rollingUpdate: Invalid value: {...}: only allowed for updateStrategy 'RollingUpdate'"]


def test_statefulset_bad_policy_and_partition():
    s = obj("StatefulSet", podManagementPolicy="Random",
            updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": -1}})
    assert msgs(create(STS, s)) == [
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
        "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"]


def test_statefulset_name_must_be_dns_label():
    s = obj("StatefulSet")
    s["metadata"]["name"] = "db.v1"
    assert [e.field for e in create(STS, s)] == ["metadata.name"]


def test_statefulset_selector_rules():
    assert "empty selector is invalid for statefulset" in msgs(create(STS, obj("StatefulSet", selector={})))[0]
    errs = create(STS, obj("StatefulSet", selector={"matchLabels": {"app": "x"}}))
    assert msgs(errs)[0].endswith("`selector` does not match template `labels`")


def test_statefulset_retention_policy_values():
    s = obj("StatefulSet", persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep"})
    assert msgs(create(STS, s)) == [
        'spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": '
        'supported values: "Retain", "Delete"']


def test_statefulset_update_rules():
    old = obj("StatefulSet", serviceName="db")
    create(STS, old)
    ok = copy.deepcopy(old)
    ok["spec"]["replicas"] = 5
    ok["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    ok["spec"]["minReadySeconds"] = 3
    ok["spec"]["revisionHistoryLimit"] = 2
    assert update(STS, ok, old) == []
    bad = copy.deepcopy(old)
    bad["spec"]["serviceName"] = "other"
    assert msgs(update(STS, bad, old)) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"]


def test_statefulset_status_counts():
    new = obj("StatefulSet")
    new["status"] = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 2}
    assert msgs(STS.validate_status_update(new, obj("StatefulSet"))) == [
        "status.availableReplicas: Invalid value: 2: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 2: cannot be greater than status.readyReplicas"]


# ---- DaemonSet ---------------------------------------------------------------------------
def test_daemonset_defaults_and_template_generation():
    d = obj("DaemonSet")
    assert create(DS, d) == []
    assert d["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    same = copy.deepcopy(d)
    assert update(DS, same, d) == []
    assert same["metadata"]["annotations"][TEMPLATE_GENERATION] == "1"
    changed = copy.deepcopy(d)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"
    update(DS, changed, d)
    assert changed["metadata"]["annotations"][TEMPLATE_GENERATION] == "2"


def test_daemonset_rolling_update_rules():
    d = obj("DaemonSet", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
    assert msgs(create(DS, d)) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
    d = obj("DaemonSet", updateStrategy={"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "10%"}})
    assert msgs(create(DS, d)) == [
        'spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: "10%": may not be set when maxUnavailable is non-zero']
    d = obj("DaemonSet", updateStrategy={"type": "Sometimes"})
    assert msgs(create(DS, d))[0].startswith('spec.updateStrategy: Unsupported value: "Sometimes"')


def test_daemonset_selector_and_restart_policy():
    errs = create(DS, obj("DaemonSet", selector={"matchLabels": {"app": "x"}}))
    assert [e.field for e in errs] == ["spec.template.metadata.labels"]
    errs = create(DS, obj("DaemonSet", selector={}))
    assert "empty selector is invalid for daemonset" in msgs(errs)[0]
    errs = create(DS, obj("DaemonSet", template=template(restart="OnFailure")))
    assert [e.field for e in errs] == ["spec.template.spec.restartPolicy"]


def test_daemonset_selector_immutable():
    old = obj("DaemonSet")
    create(DS, old)
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchExpressions"] = [{"key": "app", "operator": "Exists"}]
    assert [e.field for e in update(DS, new, old)] == ["spec.selector"]


# ---- ControllerRevision ------------------------------------------------------------------
def test_controller_revision_rules():
    cr = {"metadata": {"name": "db-1", "namespace": "default"}, "revision": 1}
    assert msgs(create(CR, cr)) == ["data: Required value: data is mandatory"]
    cr["data"] = {"spec": {}}
    cr["revision"] = -1
    assert msgs(CR.validate(cr)) == ["revision: Invalid value: -1: must be greater than or equal to 0"]
    old = {"metadata": {"name": "db-1", "namespace": "default"}, "revision": 1, "data": {"a": 1}}
    new = copy.deepcopy(old)
    new["revision"] = 3  # the controller renumbers revisions
    assert update(CR, new, old) == []
    new["data"] = {"a": 2}
    assert [e.field for e in update(CR, new, old)] == ["data"]
