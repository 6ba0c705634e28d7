"""Node, Event, PersistentVolume and PersistentVolumeClaim strategies."""

from typing import Any

import orjson

from tugboat.api.kinds.core_node import EventStrategy, NodeStrategy
from tugboat.api.kinds.core_storage import PersistentVolumeClaimStrategy, PersistentVolumeStrategy

NODE = NodeStrategy()
EV = EventStrategy()
PV = PersistentVolumeStrategy()
PVC = PersistentVolumeClaimStrategy()


def copy(o: Any) -> Any:
    return orjson.loads(orjson.dumps(o))


def test_node_create_keeps_status_and_defaults_allocatable() -> None:
    n: dict[str, Any] = {"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}}
    NODE.prepare_for_create(n)
    NODE.default(n)
    assert n["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}
    assert NODE.validate(n) == []
    assert NODE.field_values(n) == {"metadata.name": "n1", "spec.unschedulable": "false"}


def test_node_validation() -> None:
    n = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.0.0.0/33", "taints": [
        {"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"effect": "Sometimes"}]}}
    msgs = [e.message for e in NODE.validate(n)]
    assert 'spec.podCIDRs[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR' in msgs
    assert any(m.startswith("spec.taints[1]: Duplicate value") for m in msgs)
    assert "spec.taints[2].key: Required value" in msgs
    assert any(m.startswith('spec.taints[2].effect: Unsupported value: "Sometimes"') for m in msgs)


def test_node_pod_cidr_immutable_once_set() -> None:
    old = {"metadata": {"name": "n1"}, "spec": {}}
    new = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}
    assert NODE.validate_update(new, old) == []  # "" → valid is allowed
    changed = {"metadata": {"name": "n1"}, "spec": {"podCIDR": "10.244.2.0/24"}}
    assert [e.message for e in NODE.validate_update(changed, new)] == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']
    pid_old = {"metadata": {"name": "n1"}, "spec": {"providerID": "a"}}
    pid_new = {"metadata": {"name": "n1"}, "spec": {"providerID": "b"}}
    assert len(NODE.validate_update(pid_new, pid_old)) == 1


def test_event_validation_and_selectors() -> None:
    ev = {"metadata": {"name": "e1", "namespace": "default"}, "reason": "Started", "type": "Normal",
          "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "u1", "apiVersion": "v1",
                             "fieldPath": "spec.containers{a}"},
          "source": {"component": "kubelet"}, "reportingComponent": "kubelet"}
    assert EV.validate(ev) == []
    fv = EV.field_values(ev)
    assert fv["involvedObject.kind"] == "Pod"
    assert fv["involvedObject.name"] == "p"
    assert fv["involvedObject.uid"] == "u1"
    assert fv["involvedObject.fieldPath"] == "spec.containers{a}"
    assert fv["reason"] == "Started"
    assert fv["source"] == "kubelet"
    assert fv["type"] == "Normal"
    assert fv["reportingComponent"] == "kubelet"
    wrong_ns = copy(ev)
    wrong_ns["involvedObject"]["namespace"] = "other"
    assert [e.message for e in EV.validate(wrong_ns)] == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace']
    missing = {"metadata": {"name": "e2", "namespace": "default"}}
    assert "involvedObject: Required value" in [e.message for e in EV.validate(missing)]
    new_style = {"metadata": {"name": "e3", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z",
                 "involvedObject": {"kind": "Pod", "namespace": "default"}}
    msgs = [e.message for e in EV.validate(new_style)]
    assert {"reportingComponent: Required value", "reportingInstance: Required value", "action: Required value",
            "reason: Required value"} <= set(msgs)


def pv(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "hostPath": {"path": "/data"}}
    base.update(spec)
    return {"metadata": {"name": "pv1"}, "spec": base}


def test_pv_defaults() -> None:
    p = pv()
    p["status"] = {"phase": "Bound"}
    PV.prepare_for_create(p)
    PV.default(p)
    assert p["status"]["phase"] == "Pending"
    assert p["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert p["spec"]["volumeMode"] == "Filesystem"
    assert p["spec"]["hostPath"]["type"] == ""
    assert PV.validate(p) == []


def test_pv_validation() -> None:
    p = pv(capacity={}, accessModes=["ReadSometimes"], nfs={"server": "s", "path": "/x"},
           persistentVolumeReclaimPolicy="Keep")
    PV.default(p)
    msgs = [e.message for e in PV.validate(p)]
    assert "spec.capacity: Required value" in msgs
    assert any(m.startswith('spec.accessModes: Unsupported value: "ReadSometimes"') for m in msgs)
    assert "spec.nfs: Forbidden: may not specify more than 1 volume type" in msgs
    assert any(m.startswith('spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep"') for m in msgs)
    none = {"metadata": {"name": "pv1"}, "spec": {"capacity": {"storage": "1Gi"}}}
    msgs = [e.message for e in PV.validate(none)]
    assert "spec.accessModes: Required value" in msgs
    assert "spec: Required value: must specify a volume type" in msgs
    local = pv(hostPath=None, local={"path": "/mnt"})
    assert "spec.nodeAffinity: Required value: Local volume requires node affinity" in [
        e.message for e in PV.validate(local)]


def test_pv_source_immutable() -> None:
    old = pv()
    PV.default(old)
    new = copy(old)
    new["spec"]["hostPath"]["path"] = "/other"
    assert [e.message for e in PV.validate_update(new, old)] == [
        "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"]


def pvc(storage: str = "1Gi") -> dict[str, Any]:
    return {"metadata": {"name": "c", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


def test_pvc_defaults_and_validation() -> None:
    c = pvc()
    PVC.prepare_for_create(c)
    PVC.default(c)
    assert c["status"] == {"phase": "Pending"}
    assert c["spec"]["volumeMode"] == "Filesystem"
    assert PVC.validate(c) == []
    bad = {"metadata": {"name": "c", "namespace": "default"}, "spec": {"volumeMode": "Tape"}}
    msgs = [e.message for e in PVC.validate(bad)]
    assert "spec.accessModes: Required value" in msgs
    assert "spec.resources[storage]: Required value" in msgs
    assert any(m.startswith('spec.volumeMode: Unsupported value: "Tape"') for m in msgs)
    zero = pvc("0")
    assert 'spec.resources[storage]: Invalid value: "0": must be greater than zero' in [
        e.message for e in PVC.validate(zero)]


def test_pvc_update_rules() -> None:
    old = pvc()
    PVC.default(old)
    old["status"] = {"phase": "Bound"}
    old["spec"]["volumeName"] = "pv1"
    grow = copy(old)
    grow["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert PVC.validate_update(grow, old) == []
    shrink = copy(old)
    shrink["spec"]["resources"]["requests"]["storage"] = "500Mi"
    assert [e.message for e in PVC.validate_update(shrink, old)] == [
        "spec.resources.requests.storage: Forbidden: field can not be less than previous value"]
    other = copy(old)
    other["spec"]["accessModes"] = ["ReadWriteMany"]
    assert [e.message for e in PVC.validate_update(other, old)] == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims"]
    unbound = pvc()
    PVC.default(unbound)
    bind = copy(unbound)
    bind["spec"]["volumeName"] = "pv9"
    assert PVC.validate_update(bind, unbound) == []  # volumeName may be set on an unbound claim
    grow_unbound = copy(unbound)
    grow_unbound["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert len(PVC.validate_update(grow_unbound, unbound)) == 1
