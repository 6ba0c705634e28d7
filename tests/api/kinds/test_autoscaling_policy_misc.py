"""HPA, PodDisruptionBudget, Lease and EndpointSlice rules."""

from __future__ import annotations

import copy

from tugboat.api.kinds.autoscaling_hpa import HorizontalPodAutoscalerStrategy
from tugboat.api.kinds.coordination_lease import LeaseStrategy
from tugboat.api.kinds.discovery_endpointslice import EndpointSliceStrategy
from tugboat.api.kinds.policy_pdb import PodDisruptionBudgetStrategy

HPA = HorizontalPodAutoscalerStrategy()
PDB = PodDisruptionBudgetStrategy()
LEASE = LeaseStrategy()
EPS = EndpointSliceStrategy()
META = {"name": "x", "namespace": "default"}


def create(s, o):
    s.prepare_for_create(o)
    s.default(o)
    return s.validate(o)


def msgs(errs):
    return [e.message for e in errs]


def hpa(**spec):
    base = {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "maxReplicas": 5}
    base.update(spec)
    return {"metadata": dict(META), "spec": base}


# ---- HPA ---------------------------------------------------------------------------------
def test_hpa_defaults():
    h = hpa()
    assert create(HPA, h) == []
    assert h["spec"]["minReplicas"] == 1
    assert h["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in h["spec"]


def test_hpa_behavior_defaults_only_when_given():
    h = hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 30}})
    assert create(HPA, h) == []
    b = h["spec"]["behavior"]
    assert b["scaleDown"] == {"stabilizationWindowSeconds": 30, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert b["scaleUp"] == {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def test_hpa_replica_bounds_and_target_ref():
    assert msgs(create(HPA, hpa(minReplicas=0))) == ["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"]
    assert msgs(create(HPA, hpa(minReplicas=6))) == [
        "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`"]
    assert msgs(create(HPA, hpa(maxReplicas=0))) == ["spec.maxReplicas: Invalid value: 0: must be greater than 0"]
    assert msgs(create(HPA, hpa(scaleTargetRef={"name": "web"}))) == ["spec.scaleTargetRef.kind: Required value"]


def test_hpa_metric_validation():
    bad = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}},
           {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}},
           {"type": "Resource"},
           {"type": "Bogus"}]
    errs = create(HPA, hpa(metrics=bad))
    assert [e.field for e in errs] == ["spec.metrics[0].resource.target.averageUtilization",
                                       "spec.metrics[1].pods.target.averageValue",
                                       "spec.metrics[2].resource", "spec.metrics[3].type"]
    errs = create(HPA, hpa(metrics=[{"type": "External", "external": {
        "metric": {"name": "q"}, "target": {"type": "Value", "value": "-1"}}}]))
    assert msgs(errs) == ['spec.metrics[0].external.target.value: Invalid value: "-1": must be positive']


def test_hpa_behavior_validation():
    h = hpa(behavior={"scaleUp": {"stabilizationWindowSeconds": 4000,
                                  "policies": [{"type": "Pods", "value": 0, "periodSeconds": 2000}]}})
    assert [e.field for e in create(HPA, h)] == ["spec.behavior.scaleUp.stabilizationWindowSeconds",
                                                 "spec.behavior.scaleUp.policies[0].value",
                                                 "spec.behavior.scaleUp.policies[0].periodSeconds"]


# ---- PDB ---------------------------------------------------------------------------------
def pdb(**spec):
    return {"metadata": dict(META), "spec": spec}


def test_pdb_min_available_xor_max_unavailable():
    assert create(PDB, pdb(minAvailable=1, selector={"matchLabels": {"a": "b"}})) == []
    assert create(PDB, pdb(maxUnavailable="50%")) == []
    assert msgs(create(PDB, pdb(minAvailable=1, maxUnavailable=1))) == [
        "spec: Invalid value: {...}: minAvailable and maxUnavailable cannot be both set"]


def test_pdb_values_and_policy():
    assert [e.field for e in create(PDB, pdb(minAvailable=-1))] == ["spec.minAvailable"]
    assert msgs(create(PDB, pdb(maxUnavailable="120%"))) == [
        'spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%']
    assert msgs(create(PDB, pdb(minAvailable=1, unhealthyPodEvictionPolicy="Sometimes"))) == [
        'spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: '
        '"AlwaysAllow", "IfHealthyBudget"']


def test_pdb_status_is_a_subresource():
    p = pdb(minAvailable=1)
    p["status"] = {"disruptionsAllowed": 4}
    create(PDB, p)
    assert "status" not in p
    new = copy.deepcopy(p)
    new["status"] = {"disruptionsAllowed": -1}
    assert [e.field for e in PDB.validate_status_update(new, p)] == ["status.disruptionsAllowed"]


# ---- Lease -------------------------------------------------------------------------------
def test_lease_rules():
    ok = {"metadata": dict(META), "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}
    assert create(LEASE, ok) == []
    bad = {"metadata": dict(META), "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1,
                                            "preferredHolder": "n2"}}
    assert msgs(create(LEASE, bad)) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"]


# ---- EndpointSlice -----------------------------------------------------------------------
def slice_(**kw):
    base = {"metadata": dict(META), "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": True}}],
            "ports": [{"port": 80}]}
    base.update(kw)
    return base


def test_endpointslice_defaults_ports_and_allows_no_service_label():
    s = slice_()
    assert create(EPS, s) == []
    assert s["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def test_endpointslice_address_type():
    assert msgs(create(EPS, slice_(addressType=None))) == ["addressType: Required value"]
    assert msgs(create(EPS, slice_(addressType="IP")))[0].startswith('addressType: Unsupported value: "IP"')
    old = slice_()
    create(EPS, old)
    new = copy.deepcopy(old)
    new["addressType"] = "IPv6"
    new["endpoints"] = [{"addresses": ["fd00::5"]}]
    assert [e.field for e in EPS.validate_update(new, old)] == ["addressType"]


def test_endpointslice_addresses():
    s = slice_(endpoints=[{"addresses": []}, {"addresses": ["fd00::1"]}, {"addresses": ["127.0.0.1"]}])
    assert msgs(create(EPS, s)) == [
        "endpoints[0].addresses: Required value: must contain at least 1 address",
        'endpoints[1].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
        'endpoints[2].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range '
        '(127.0.0.0/8, ::1/128)']
    assert create(EPS, slice_(addressType="FQDN", endpoints=[{"addresses": ["db.example.com"]}])) == []


def test_endpointslice_ports():
    s = slice_(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}, {"name": "Bad_", "protocol": "ICMP"}])
    assert [e.field for e in create(EPS, s)] == ["ports[1].name", "ports[2].name", "ports[2].protocol"]
