"""Service and Endpoints: defaults, validation, update rules."""

from typing import Any

import orjson

from tugboat.api.kinds.core_service import EndpointsStrategy, ServiceStrategy

S = ServiceStrategy()


def svc(name: str = "web", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    base.update(spec)
    return {"metadata": {"name": name, "namespace": "default"}, "spec": base}


def created(obj: dict[str, Any]) -> dict[str, Any]:
    S.prepare_for_create(obj)
    S.default(obj)
    return obj


def msgs(obj: dict[str, Any]) -> list[str]:
    return [e.message for e in S.validate(obj)]


def test_cluster_ip_defaults() -> None:
    s = created(svc())
    spec = s["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]
    assert "externalTrafficPolicy" not in spec
    assert msgs(s) == []


def test_node_port_and_lb_defaults() -> None:
    s = created(svc(type="NodePort"))
    assert s["spec"]["externalTrafficPolicy"] == "Cluster"
    lb = created(svc(type="LoadBalancer"))
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    aff = created(svc(sessionAffinity="ClientIP"))
    assert aff["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_named_target_port_kept() -> None:
    s = created(svc(ports=[{"port": 80, "targetPort": "http"}]))
    assert s["spec"]["ports"][0]["targetPort"] == "http"


def test_name_must_be_dns1035() -> None:
    assert any(m.startswith('metadata.name: Invalid value: "1web": a DNS-1035 label') for m in msgs(created(svc("1web"))))


def test_port_rules() -> None:
    s = created(svc(ports=[{"port": 80}, {"port": 0, "name": "b"}, {"port": 81, "name": "b", "protocol": "ICMP"},
                           {"port": 82, "name": "c", "nodePort": 30000, "targetPort": "Bad--"}]))
    m = msgs(s)
    assert "spec.ports[0].name: Required value" in m
    assert "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive" in m
    assert 'spec.ports[2].name: Duplicate value: "b"' in m
    assert any(x.startswith('spec.ports[2].protocol: Unsupported value: "ICMP"') for x in m)
    assert "spec.ports[3].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" in m
    assert any(x.startswith('spec.ports[3].targetPort: Invalid value: "Bad--"') for x in m)
    assert "spec.ports: Required value" in msgs(created(svc(ports=[])))
    dup = created(svc(ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]))
    assert any(x.startswith("spec.ports[1]: Duplicate value") for x in msgs(dup))


def test_type_and_external_name() -> None:
    assert any(x.startswith('spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName"')
               for x in msgs(created(svc(type="Foo"))))
    ext = created(svc(type="ExternalName", ports=[]))
    assert "spec.externalName: Required value" in msgs(ext)
    ok = created(svc(type="ExternalName", externalName="example.com.", ports=[]))
    assert msgs(ok) == []
    assert "ipFamilies" not in ok["spec"]


def test_traffic_policy_and_cluster_ip_rules() -> None:
    s = created(svc(externalTrafficPolicy="Local"))
    assert ('spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'
            in msgs(s))
    headless_np = created(svc(type="NodePort", clusterIP="None"))
    assert any("may not be set to 'None' for NodePort services" in x for x in msgs(headless_np))
    bad_ip = created(svc(clusterIP="10.0.0.300"))
    assert any(x.startswith('spec.clusterIPs[0]: Invalid value: "10.0.0.300"') for x in msgs(bad_ip))
    headless = created(svc(clusterIP="None", ports=[]))
    assert msgs(headless) == []


def test_cluster_ip_immutable_and_carried_forward() -> None:
    old = created(svc(clusterIP="10.96.0.10", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    new = svc(type="NodePort")  # re-applied manifest without allocated values
    S.prepare_for_update(new, old)
    S.default(new)
    assert new["spec"]["clusterIP"] == "10.96.0.10"
    assert new["spec"]["clusterIPs"] == ["10.96.0.10"]
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert S.validate_update(new, old) == []
    changed = orjson.loads(orjson.dumps(old))
    changed["spec"]["clusterIP"] = "10.96.0.11"
    changed["spec"]["clusterIPs"] = ["10.96.0.11"]
    assert [e.message for e in S.validate_update(changed, old)] == [
        'spec.clusterIPs[0]: Invalid value: [...]: may not change once set']


def test_service_status_subresource() -> None:
    s = svc()
    s["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    created(s)
    assert "status" not in s


def test_endpoints() -> None:
    e = EndpointsStrategy()
    obj = {"metadata": {"name": "web", "namespace": "default"},
           "subsets": [{"addresses": [{"ip": "10.1.0.4"}], "ports": [{"port": 80}]}]}
    e.default(obj)
    assert obj["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert e.validate(obj) == []
    bad = {"metadata": {"name": "web", "namespace": "default"},
           "subsets": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 0, "protocol": "TCP"}]},
                       {"addresses": [{"ip": "127.0.0.1"}, {"ip": "nope"}]}]}
    m = [x.message for x in e.validate(bad)]
    assert "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`" in m
    assert "subsets[0].ports[0].name: Required value" in m
    assert "subsets[0].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive" in m
    assert ('subsets[1].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range '
            '(127.0.0.0/8, ::1/128)') in m
    assert 'subsets[1].addresses[1].ip: Invalid value: "nope": must be a valid IP address' in m
