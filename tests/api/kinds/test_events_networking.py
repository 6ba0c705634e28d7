"""events.k8s.io/v1 Event, Ingress, IngressClass and NetworkPolicy rules."""

from __future__ import annotations

import copy

from tugboat.api.kinds.events_event import EventsV1EventStrategy
from tugboat.api.kinds.networking_ingress import IngressClassStrategy, IngressStrategy
from tugboat.api.kinds.networking_networkpolicy import NetworkPolicyStrategy

EV = EventsV1EventStrategy()
ING = IngressStrategy()
IC = IngressClassStrategy()
NP = NetworkPolicyStrategy()
META = {"name": "x", "namespace": "default"}


def create(s, o):
    s.prepare_for_create(o)
    s.default(o)
    return s.validate(o)


def msgs(errs):
    return [e.message for e in errs]


# ---- events.k8s.io/v1 --------------------------------------------------------------------
def event(**kw):
    base = {"metadata": dict(META), "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "tugboat/ctl",
            "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Normal",
            "regarding": {"kind": "Deployment", "namespace": "default", "name": "web"}, "note": "scaled up"}
    base.update(kw)
    return base


def test_valid_event():
    assert create(EV, event()) == []


def test_event_strict_rules():
    e = event(reportingInstance="", action="a" * 129, deprecatedCount=2, type="Info",
              series={"count": 1})
    assert msgs(create(EV, e)) == [
        "reportingInstance: Required value",
        'action: Invalid value: "": can have at most 128 characters',
        'series.count: Invalid value: "": should be at least 2',
        "series.lastObservedTime: Required value",
        'type: Invalid value: "": has invalid value: Info',
        'deprecatedCount: Invalid value: "": needs to be unset']
    assert msgs(create(EV, event(eventTime=None))) == ["eventTime: Required value"]


def test_event_update_only_series():
    old = event()
    new = copy.deepcopy(old)
    new["series"] = {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000000Z"}
    assert EV.validate(new) + EV.validate_update(new, old) == []
    new["note"] = "changed"
    assert [e.field for e in EV.validate_update(new, old)] == ["message"]


def test_event_field_selectors_use_core_names():
    vals = EV.field_values(event(deprecatedSource={"component": "kubelet"}))
    assert vals["involvedObject.name"] == "web" and vals["involvedObject.kind"] == "Deployment"
    assert vals["reportingComponent"] == "tugboat/ctl" and vals["source"] == "kubelet" and vals["type"] == "Normal"


# ---- Ingress -----------------------------------------------------------------------------
def ingress(paths=None, **spec):
    paths = paths if paths is not None else [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]
    base = {"rules": [{"host": "example.com", "http": {"paths": paths}}]}
    base.update(spec)
    return {"metadata": dict(META), "spec": base}


def test_valid_ingress_and_status_subresource():
    i = ingress()
    i["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert create(ING, i) == []
    assert "status" not in i


def test_ingress_path_type_required_and_paths_checked():
    errs = create(ING, ingress([{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]))
    assert msgs(errs) == ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]
    errs = create(ING, ingress([{"path": "a/../b", "pathType": "Exact",
                                 "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]))
    assert msgs(errs) == ['spec.rules[0].http.paths[0].path: Invalid value: "a/../b": must be an absolute path',
                          'spec.rules[0].http.paths[0].path: Invalid value: "a/../b": must not contain \'/../\'']
    errs = create(ING, ingress([{"path": "/", "pathType": "Regex",
                                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]))
    assert msgs(errs)[0].startswith('spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex"')


def test_ingress_backends():
    errs = create(ING, ingress([{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web"}}}]))
    assert msgs(errs) == ["spec.rules[0].http.paths[0].backend: Required value: port name or number is required"]
    errs = create(ING, ingress([{"path": "/", "pathType": "Prefix", "backend": {}}]))
    assert msgs(errs) == ['spec.rules[0].http.paths[0].backend: Invalid value: "": '
                          'resource or service backend is required']
    errs = create(ING, ingress([{"path": "/", "pathType": "Prefix",
                                 "backend": {"service": {"name": "web", "port": {"number": 70000}}}}]))
    assert msgs(errs) == ["spec.rules[0].http.paths[0].backend.service.port.number: Invalid value: 70000: "
                          "must be between 1 and 65535, inclusive"]


def test_ingress_needs_rules_or_default_backend_and_dns_hosts():
    i = {"metadata": dict(META), "spec": {}}
    assert msgs(create(ING, i)) == ["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]
    i = ingress()
    i["spec"]["rules"][0]["host"] = "10.0.0.1"
    assert msgs(create(ING, i)) == ['spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address']
    i["spec"]["rules"][0]["host"] = "*.example.com"
    assert create(ING, i) == []


def test_ingress_class_annotation_must_match_field():
    i = ingress(ingressClassName="nginx")
    i["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
    assert [e.field for e in create(ING, i)] == ["annotations.kubernetes.io/ingress.class"]


def test_ingress_class():
    ic = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
                                                  "parameters": {"kind": "Cfg", "name": "c"}}}
    assert create(IC, ic) == []
    assert ic["spec"]["parameters"]["scope"] == "Cluster"
    bad = {"metadata": {"name": "nginx"}, "spec": {"controller": "nginx"}}
    assert msgs(create(IC, bad)) == [
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']
    new = copy.deepcopy(ic)
    new["spec"]["controller"] = "example.com/other"
    assert [e.field for e in IC.validate_update(new, ic)] == ["spec.controller"]


# ---- NetworkPolicy -----------------------------------------------------------------------
def test_network_policy_policy_types_default():
    np = {"metadata": dict(META), "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}
    assert create(NP, np) == []
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    np = {"metadata": dict(META), "spec": {"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]}}
    create(NP, np)
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    np = {"metadata": dict(META), "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    create(NP, np)
    assert np["spec"]["policyTypes"] == ["Egress"]


def test_network_policy_validation():
    spec = {"podSelector": {}, "ingress": [{
        "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}, "podSelector": {}}],
        "ports": [{"port": 80, "endPort": 70}, {"port": "http", "endPort": 90}, {"protocol": "ICMP"}]}],
        "policyTypes": ["Sideways"]}
    errs = create(NP, {"metadata": dict(META), "spec": spec})
    assert [e.field for e in errs] == [
        "spec.ingress[0].ports[0].endPort", "spec.ingress[0].ports[1].endPort", "spec.ingress[0].ports[2].protocol",
        "spec.ingress[0].from[0]", "spec.ingress[0].from[1].ipBlock.except[0]", "spec.ingress[0].from[1]",
        "spec.policyTypes[0]"]
