"""Deployment and ReplicaSet defaults and validation, as kubectl users meet them."""

from __future__ import annotations

import copy

from tugboat.api.kinds.apps_deployment import DeploymentStrategy, ReplicaSetStrategy

D = DeploymentStrategy()
RS = ReplicaSetStrategy()


def template(labels=None, restart="Always"):
    return {"metadata": {"labels": labels if labels is not None else {"app": "web"}},
            "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}}


def deployment(**spec):
    base = {"selector": {"matchLabels": {"app": "web"}}, "template": template()}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}, "spec": base}


def create(s, obj):
    s.prepare_for_create(obj)
    s.default(obj)
    return s.validate(obj)


def update(s, new, old):
    s.prepare_for_update(new, old)
    s.default(new)
    return s.validate(new) + s.validate_update(new, old)


def fields(errs):
    return [e.field for e in errs]


def test_deployment_defaults():
    d = deployment()
    assert create(D, d) == []
    spec = d["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert "minReadySeconds" not in spec
    # the pod template gets the core/v1 pod defaults
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_recreate_gets_no_rolling_update_defaults():
    d = deployment(strategy={"type": "Recreate"})
    assert create(D, d) == []
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_create_clears_status():
    d = deployment()
    d["status"] = {"replicas": 5}
    create(D, d)
    assert "status" not in d


def test_selector_required_and_must_match_template():
    d = deployment()
    del d["spec"]["selector"]
    errs = create(D, d)
    assert "spec.selector: Required value" in [e.message for e in errs]

    d = deployment(selector={"matchLabels": {"app": "other"}})
    errs = create(D, d)
    assert [e.message for e in errs] == [
        'spec.template.metadata.labels: Invalid value: {...}: `selector` does not match template `labels`']


def test_empty_selector_rejected():
    errs = create(D, deployment(selector={}))
    assert "empty selector is invalid for deployment" in errs[0].message


def test_selector_match_expressions():
    sel = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}
    assert create(D, deployment(selector=sel)) == []
    sel = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}
    assert fields(create(D, deployment(selector=sel))) == ["spec.template.metadata.labels"]


def test_negative_replicas():
    errs = create(D, deployment(replicas=-1))
    assert [e.message for e in errs] == ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_max_surge_and_unavailable_not_both_zero():
    d = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}})
    errs = create(D, d)
    assert [e.message for e in errs] == [
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0']


def test_bad_percent_and_over_100():
    d = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x", "maxUnavailable": "150%"}})
    msgs = [e.message for e in create(D, d)]
    assert any("a valid percent string must be a numeric string followed by an ending '%'" in m for m in msgs)
    assert "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%" in msgs


def test_recreate_with_rolling_update_forbidden():
    d = deployment(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
    errs = create(D, d)
    assert errs[0].reason == "FieldValueForbidden"
    assert fields(errs) == ["spec.strategy.rollingUpdate"]


def test_unknown_strategy_type():
    errs = create(D, deployment(strategy={"type": "BlueGreen"}))
    assert errs[0].message == ('spec.strategy: Unsupported value: "BlueGreen": supported values: '
                               '"Recreate", "RollingUpdate"')


def test_restart_policy_must_be_always():
    errs = create(D, deployment(template=template(restart="Never")))
    assert errs[0].message == ('spec.template.spec.restartPolicy: Unsupported value: "Never": '
                               'supported values: "Always"')


def test_progress_deadline_must_exceed_min_ready():
    errs = create(D, deployment(minReadySeconds=700))
    assert [e.message for e in errs] == [
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"]


def test_invalid_pod_spec_reported_through_template():
    t = template()
    t["spec"]["containers"] = []
    errs = create(D, deployment(template=t))
    assert any(f.startswith("spec.template.spec.containers") for f in fields(errs))


def test_selector_immutable():
    old = deployment()
    create(D, old)
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "x": "y"}}
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    errs = update(D, new, old)
    assert [e.message.split(": ", 1)[0] for e in errs] == ["spec.selector"]
    assert errs[0].message.endswith("field is immutable")


def test_scaling_is_a_valid_update_and_keeps_status():
    old = deployment()
    create(D, old)
    old["status"] = {"replicas": 1}
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    del new["status"]
    assert update(D, new, old) == []
    assert new["status"] == {"replicas": 1}
    assert D.spec_changed(new, old)


def test_annotation_change_bumps_generation():
    old = deployment()
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"a": "b"}
    assert D.spec_changed(new, old)
    assert not D.spec_changed(copy.deepcopy(old), old)


def test_deployment_status_validation():
    new = deployment()
    new["status"] = {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1}
    errs = D.validate_status_update(new, deployment())
    assert [e.message for e in errs] == ["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]
    old = deployment()
    old["status"] = {"collisionCount": 2}
    new["status"] = {"collisionCount": 1}
    assert fields(D.validate_status_update(new, old)) == ["status.collisionCount"]


def test_replicaset_defaults_and_rules():
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    assert create(RS, rs) == []
    assert rs["spec"]["replicas"] == 1
    assert "strategy" not in rs["spec"]
    bad = deployment(selector={})
    errs = create(RS, bad)
    assert "empty selector is invalid for deployment" in errs[0].message
    t = template()
    t["spec"]["activeDeadlineSeconds"] = 5
    errs = create(RS, deployment(template=t))
    assert [e.message for e in errs] == [
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"]


def test_replicaset_field_selector_status_replicas():
    rs = deployment()
    assert RS.field_values(rs)["status.replicas"] == "0"
    rs["status"] = {"replicas": 3}
    assert RS.field_values(rs) == {"metadata.name": "web", "metadata.namespace": "default",
                                   "status.replicas": "3"}
