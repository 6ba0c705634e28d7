"""LimitRange, ResourceQuota and ReplicationController strategies."""

from typing import Any

from tugboat.api.kinds.core_policy import (
    LimitRangeStrategy,
    ReplicationControllerStrategy,
    ResourceQuotaStrategy,
)

LR = LimitRangeStrategy()
RQ = ResourceQuotaStrategy()
RC = ReplicationControllerStrategy()


def test_limit_range_defaults() -> None:
    lr: dict[str, Any] = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
        {"type": "Pod", "max": {"cpu": "4"}}]}}
    LR.default(lr)
    c, p = lr["spec"]["limits"]
    assert c["default"] == {"cpu": "2"}
    assert c["defaultRequest"] == {"cpu": "2", "memory": "64Mi"}
    assert "default" not in p
    assert LR.validate(lr) == []


def test_limit_range_ordering() -> None:
    lr = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"limits": [
        {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"cpu": "3"},
         "defaultRequest": {"cpu": "500m"}, "maxLimitRequestRatio": {"cpu": "500m"}},
        {"type": "Pod", "default": {"cpu": "1"}}, {"max": {"cpu": "1"}}]}}
    msgs = [e.message for e in LR.validate(lr)]
    assert 'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1' in msgs
    assert 'spec.limits[0].default[cpu]: Invalid value: "3": default value 3 is greater than max value 1' in msgs
    assert ('spec.limits[0].defaultRequest[cpu]: Invalid value: "500m": min value 2 is greater than default request '
            'value 500m') in msgs
    assert 'spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1' in msgs
    assert "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'" in msgs
    assert "spec.limits[2].type: Required value" in msgs


def test_resource_quota() -> None:
    rq: dict[str, Any] = {"metadata": {"name": "q", "namespace": "default"},
                          "spec": {"hard": {"pods": "10", "requests.cpu": "4"}}, "status": {"used": {"pods": "3"}}}
    RQ.prepare_for_create(rq)
    assert "status" not in rq
    assert RQ.validate(rq) == []
    bad = {"metadata": {"name": "q", "namespace": "default"},
           "spec": {"hard": {"pods": "-1", "cpu": "x"}, "scopes": ["Sometimes"]}}
    msgs = [e.message for e in RQ.validate(bad)]
    assert 'spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0' in msgs
    assert any(m.startswith('spec.hard[cpu]: Invalid value: "x"') for m in msgs)
    assert any(m.startswith('spec.scopes[0]: Unsupported value: "Sometimes"') for m in msgs)


def rc(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    base.update(spec)
    return {"metadata": {"name": "r", "namespace": "default"}, "spec": base}


def test_rc_defaults() -> None:
    r = rc()
    RC.prepare_for_create(r)
    RC.default(r)
    assert r["spec"]["selector"] == {"app": "web"}
    assert r["metadata"]["labels"] == {"app": "web"}
    assert r["spec"]["replicas"] == 1
    assert r["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert r["metadata"]["generation"] == 1
    assert RC.validate(r) == []
    assert RC.field_values(r)["status.replicas"] == "0"


def test_rc_validation() -> None:
    r = rc(selector={"app": "other"}, replicas=-1)
    r["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    r["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    RC.default(r)
    msgs = [e.message for e in RC.validate(r)]
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in msgs
    assert "spec.template.metadata.labels: Invalid value: {...}: `selector` does not match template `labels`" in msgs
    assert 'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"' in msgs
    assert ("spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is "
            "not Supported") in msgs
    missing = {"metadata": {"name": "r", "namespace": "default"}, "spec": {}}
    assert {"spec.selector: Required value", "spec.template: Required value"} <= {
        e.message for e in RC.validate(missing)}


def test_rc_status_update() -> None:
    msgs = [e.message for e in RC.validate_status_update({"status": {"replicas": 1, "readyReplicas": 2}}, {})]
    assert msgs == ["status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas"]
    avail = {"status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 2}}
    assert [e.message for e in RC.validate_status_update(avail, {})] == [
        "status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas"]
