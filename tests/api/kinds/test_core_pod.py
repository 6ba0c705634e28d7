"""Pod defaults, validation, update rules and field selectors (upstream 1.32 behaviour)."""

from typing import Any

import orjson
import pytest

from tugboat.api.kinds.core_container import image_tag
from tugboat.api.kinds.core_pod import (
    default_pod_spec,
    default_pod_template,
    pod_qos_class,
    validate_pod_spec,
    validate_pod_template,
)
from tugboat.api.kinds.core_pod_strategy import BindingStrategy, PodStrategy, PodTemplateStrategy

S = PodStrategy()


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": base}


def created(obj: dict[str, Any]) -> dict[str, Any]:
    S.prepare_for_create(obj)
    S.default(obj)
    return obj


def messages(obj: dict[str, Any]) -> list[str]:
    return [e.message for e in S.validate(obj)]


def test_pod_defaults() -> None:
    p = created(pod(containers=[{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                                 "livenessProbe": {"httpGet": {"port": 80}}}]))
    spec = p["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert S.validate(p) == []


def test_defaulting_is_idempotent() -> None:
    p = created(pod(volumes=[{"name": "v"}]))
    once = orjson.dumps(p)
    S.default(p)
    assert orjson.dumps(p) == once
    assert p["spec"]["volumes"][0] == {"name": "v", "emptyDir": {}}


@pytest.mark.parametrize("image, tag, policy", [
    ("nginx", "latest", "Always"),
    ("nginx:latest", "latest", "Always"),
    ("nginx:1.27", "1.27", "IfNotPresent"),
    ("localhost:5000/busybox", "latest", "Always"),
    ("localhost:5000/busybox:v1", "v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "", "IfNotPresent"),
])
def test_image_pull_policy(image: str, tag: str, policy: str) -> None:
    assert image_tag(image) == tag
    p = created(pod(containers=[{"name": "a", "image": image}]))
    assert p["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_only_defaults_not_in_templates() -> None:
    t = {"metadata": {"labels": {"app": "x"}},
         "spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}}
    default_pod_template(t)
    assert "enableServiceLinks" not in t["spec"]
    assert "requests" not in t["spec"]["containers"][0]["resources"]
    assert t["spec"]["restartPolicy"] == "Always"
    assert validate_pod_template(t, "spec.template") == []


def test_requests_default_from_limits_and_qos() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]))
    assert p["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert p["status"]["qosClass"] == "Guaranteed"
    burst = created(pod(containers=[{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]))
    assert burst["status"]["qosClass"] == "Burstable"
    assert pod_qos_class({"containers": [{"resources": {"requests": {"cpu": "0"}}}]}) == "BestEffort"


def test_host_network_defaults_host_ports() -> None:
    p = created(pod(hostNetwork=True, containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 8080}]}]))
    assert p["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080
    p["spec"]["containers"][0]["ports"][0]["hostPort"] = 81
    assert any("must match `containerPort` when `hostNetwork` is true" in m for m in messages(p))


def test_required_fields_reported_together() -> None:
    p = created(pod(containers=[{"name": "a"}, {"name": "a", "image": "x"}]))
    msgs = messages(p)
    assert "spec.containers[0].image: Required value" in msgs
    assert 'spec.containers[1].name: Duplicate value: "a"' in msgs
    no_containers = created(pod(containers=[]))
    assert "spec.containers: Required value" in messages(no_containers)


def test_container_name_must_be_dns_label_and_unique_with_init() -> None:
    p = created(pod(initContainers=[{"name": "app", "image": "x"}], containers=[{"name": "Bad_Name", "image": "x"}]))
    msgs = messages(p)
    assert any(m.startswith('spec.containers[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label')
               for m in msgs)
    p2 = created(pod(initContainers=[{"name": "app", "image": "x"}]))
    assert 'spec.containers[0].name: Duplicate value: "app"' in messages(p2)


def test_ports() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x", "ports": [
        {"containerPort": 0}, {"containerPort": 70000, "name": "http"}, {"containerPort": 80, "name": "http"},
        {"containerPort": 81, "name": "Bad--"}, {"containerPort": 82, "protocol": "ICMP"},
        {"containerPort": 83, "hostPort": 99999}]}]))
    msgs = messages(p)
    assert "spec.containers[0].ports[0].containerPort: Required value" in msgs
    assert "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive" in msgs
    assert 'spec.containers[0].ports[2].name: Duplicate value: "http"' in msgs
    assert any("ports[3].name" in m and "must not contain consecutive hyphens" in m for m in msgs)
    assert any("ports[3].name" in m and "alpha-numeric characters (a-z, 0-9)" in m for m in msgs)
    assert 'spec.containers[0].ports[4].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"' in msgs
    assert any(m.startswith("spec.containers[0].ports[5].hostPort: Invalid value: 99999") for m in msgs)


def test_host_port_conflict() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                                {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}]))
    assert 'spec.containers[1].ports[0]: Duplicate value: "8080/TCP"' in messages(p)


def test_env() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x", "env": [
        {"name": ""}, {"name": "A=B"}, {"name": "OK", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TWO", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "BADPATH", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
        {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "bad key"}}},
    ]}]))
    msgs = messages(p)
    assert "spec.containers[0].env[0].name: Required value" in msgs
    assert any(m.startswith('spec.containers[0].env[1].name: Invalid value: "A=B"') for m in msgs)
    assert 'spec.containers[0].env[2].valueFrom: Invalid value: "": may not be specified when `value` is not empty' in msgs
    assert ('spec.containers[0].env[3].valueFrom: Invalid value: "": may not have more than one field specified at a time'
            in msgs)
    assert any(m.startswith('spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.bogus"')
               for m in msgs)
    assert not any("env[5]" in m for m in msgs)
    assert any(m.startswith('spec.containers[0].env[6].valueFrom.configMapKeyRef.key: Invalid value: "bad key"')
               for m in msgs)
    # env var from fieldRef gets apiVersion v1
    assert p["spec"]["containers"][0]["env"][4]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"


def test_volumes_and_mounts() -> None:
    p = created(pod(
        volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                 {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                 {"name": "cm", "configMap": {}}, {"name": "sec", "secret": {"secretName": "s", "defaultMode": 4096}},
                 {"name": "hp", "hostPath": {"path": "/a/../etc", "type": "Weird"}}],
        containers=[{"name": "a", "image": "x", "volumeMounts": [
            {"name": "data", "mountPath": "/d"}, {"name": "missing", "mountPath": "/m"},
            {"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/s", "subPath": "../up"}]}]))
    msgs = messages(p)
    assert 'spec.volumes[1].name: Duplicate value: "data"' in msgs
    assert "spec.volumes[2].emptyDir: Forbidden: may not specify more than 1 volume type" in msgs  # hostPath is checked first
    assert "spec.volumes[3].configMap.name: Required value" in msgs
    assert ("spec.volumes[4].secret.defaultMode: Invalid value: 4096: must be a number between 0 and 0777 (octal), "
            "both inclusive") in msgs
    assert "spec.volumes[5].hostPath.path: Invalid value: \"/a/../etc\": must not contain '..'" in msgs
    assert any(m.startswith('spec.volumes[5].hostPath.type: Unsupported value: "Weird"') for m in msgs)
    assert 'spec.containers[0].volumeMounts[1].name: Not found: "missing"' in msgs
    assert 'spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/d": must be unique' in msgs
    assert "spec.containers[0].volumeMounts[3].subPath: Invalid value: \"../up\": must not contain '..'" in msgs
    assert p["spec"]["volumes"][4]["secret"]["defaultMode"] == 4096  # user value kept
    assert p["spec"]["volumes"][3]["configMap"]["defaultMode"] == 420


def test_volume_without_source_in_validation() -> None:
    spec = {"containers": [{"name": "a", "image": "x"}], "volumes": [{"name": "v"}]}
    errs = validate_pod_spec({**spec, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}, "spec")
    assert any(e.message == "spec.volumes[0]: Required value: must specify a volume type" for e in errs)


def test_restart_and_dns_policy() -> None:
    p = created(pod(restartPolicy="Sometimes", dnsPolicy="None"))
    msgs = messages(p)
    assert ('spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
            in msgs)
    assert "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None" in msgs


def test_resources() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x", "resources": {
        "requests": {"cpu": "2", "memory": "bogus", "example.com/gpu": "1"},
        "limits": {"cpu": "1", "memory": "-1"}}}]))
    msgs = messages(p)
    assert ('spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu '
            'limit of 1') in msgs
    assert any(m.startswith('spec.containers[0].resources.requests[memory]: Invalid value: "bogus": quantities must')
               for m in msgs)
    assert ('spec.containers[0].resources.limits[memory]: Invalid value: "-1": must be greater than or equal to 0'
            in msgs)
    assert any(m.startswith("spec.containers[0].resources.limits: Required value: Limit must be set") for m in msgs)


def test_working_dir_under_proc_self_fd_refused() -> None:
    for wd in ("/proc/self/fd/8", "/proc/self/fd", "//proc/./self/fd/7/"):
        p = created(pod(containers=[{"name": "a", "image": "x", "workingDir": wd}]))
        assert any(m.startswith("spec.containers[0].workingDir: Invalid value") for m in messages(p)), wd
    ok = created(pod(containers=[{"name": "a", "image": "x", "workingDir": "/proc/self/cwd"}]))
    assert messages(ok) == []


def test_probes() -> None:
    p = created(pod(containers=[{"name": "a", "image": "x",
                                 "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
                                 "readinessProbe": {},
                                 "startupProbe": {"exec": {"command": ["x"]}, "tcpSocket": {"port": 1}}}],
                    initContainers=[{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["x"]}}}]))
    msgs = messages(p)
    assert "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1" in msgs
    assert "spec.containers[0].readinessProbe: Required value: must specify a handler type" in msgs
    assert "spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type" in msgs
    assert ("spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without "
            "restartPolicy=Always") in msgs
    sidecar = created(pod(initContainers=[{"name": "i", "image": "x", "restartPolicy": "Always",
                                           "readinessProbe": {"exec": {"command": ["x"]}}}]))
    assert messages(sidecar) == []


def test_tolerations() -> None:
    p = created(pod(tolerations=[{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
                                 {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
                                 {"key": "k", "operator": "Maybe"}, {"operator": "Exists"}]))
    msgs = messages(p)
    assert any(m.startswith("spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists") for m in msgs)
    assert any(m.startswith("spec.tolerations[1].operator") and "value must be empty" in m for m in msgs)
    assert ("spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
            "`tolerationSeconds` is set") in msgs
    assert any(m.startswith('spec.tolerations[3].operator: Unsupported value: "Maybe"') for m in msgs)
    assert not any("tolerations[4]" in m for m in msgs)


def test_misc_spec_fields() -> None:
    p = created(pod(activeDeadlineSeconds=0, hostname="Bad_Host", nodeSelector={"bad key!": "v"},
                    ephemeralContainers=[{"name": "dbg", "image": "busybox"}]))
    msgs = messages(p)
    assert "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive" in msgs
    assert any(m.startswith('spec.hostname: Invalid value: "Bad_Host"') for m in msgs)
    assert any(m.startswith('spec.nodeSelector: Invalid value: "bad key!"') for m in msgs)
    assert "spec.ephemeralContainers: Forbidden: cannot be set on create" in msgs


def test_negative_grace_period_becomes_one() -> None:
    p = created(pod(terminationGracePeriodSeconds=-5))
    assert p["spec"]["terminationGracePeriodSeconds"] == 1


def test_scheduling_gates_condition() -> None:
    p = pod(schedulingGates=[{"name": "example.com/wait"}])
    p["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    created(p)
    cond = p["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "SchedulingGated")


def test_status_dropped_on_create() -> None:
    p = pod()
    p["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
    created(p)
    assert p["status"]["phase"] == "Pending"
    assert "podIP" not in p["status"]


def _stored() -> dict[str, Any]:
    return created(pod(containers=[{"name": "a", "image": "nginx:1"}], tolerations=[{"key": "a", "operator": "Exists"}],
                       activeDeadlineSeconds=100))


def test_update_allows_image_deadline_tolerations() -> None:
    old = _stored()
    new = orjson.loads(orjson.dumps(old))
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["spec"]["activeDeadlineSeconds"] = 50
    new["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    S.prepare_for_update(new, old)
    assert S.validate_update(new, old) == []


def test_update_refuses_other_spec_changes() -> None:
    old = _stored()
    new = orjson.loads(orjson.dumps(old))
    new["spec"]["restartPolicy"] = "Never"
    new["spec"]["activeDeadlineSeconds"] = 200
    new["spec"]["tolerations"] = []
    msgs = [e.message for e in S.validate_update(new, old)]
    assert any(m.startswith("spec: Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`") for m in msgs)
    assert "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value" in msgs
    assert ("spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            in msgs)
    more = orjson.loads(orjson.dumps(old))
    more["spec"]["containers"].append({"name": "b", "image": "x"})
    assert [e.message for e in S.validate_update(more, old)] == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_update_keeps_status_and_status_update_keeps_spec() -> None:
    old = _stored()
    new = orjson.loads(orjson.dumps(old))
    new["status"] = {"phase": "Running"}
    S.prepare_for_update(new, old)
    assert new["status"]["phase"] == "Pending"
    st = orjson.loads(orjson.dumps(old))
    st["status"] = {"phase": "Running", "podIP": "bogus", "podIPs": [{"ip": "bogus"}]}
    st["spec"]["nodeName"] = "n1"
    S.prepare_for_status_update(st, old)
    assert "nodeName" not in st["spec"]
    msgs = [e.message for e in S.validate_status_update(st, old)]
    assert 'status.podIP: Invalid value: "bogus": must be a valid IP address' in msgs


def test_field_selectors() -> None:
    p = created(pod(nodeName="n1"))
    p["status"]["podIPs"] = [{"ip": "10.1.0.5"}]
    fv = S.field_values(p)
    assert fv["spec.nodeName"] == "n1"
    assert fv["spec.restartPolicy"] == "Always"
    assert fv["spec.schedulerName"] == "default-scheduler"
    assert fv["spec.hostNetwork"] == "false"
    assert fv["status.phase"] == "Pending"
    assert fv["status.podIP"] == "10.1.0.5"
    assert fv["status.nominatedNodeName"] == ""
    assert fv["metadata.namespace"] == "default"


def test_pod_template_kind() -> None:
    s = PodTemplateStrategy()
    obj = {"metadata": {"name": "t", "namespace": "default"},
           "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    s.default(obj)
    assert obj["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert s.validate(obj) == []
    obj["template"]["spec"]["containers"][0]["image"] = ""
    assert "template.spec.containers[0].image: Required value" in [e.message for e in s.validate(obj)]


def test_binding() -> None:
    b = BindingStrategy()
    ok = {"metadata": {"name": "p", "namespace": "default"}, "target": {"kind": "Node", "name": "n1"}}
    assert b.validate(ok) == []
    bad = {"metadata": {"name": "p", "namespace": "default"}, "target": {"kind": "Pod"}}
    msgs = [e.message for e in b.validate(bad)]
    assert "target.name: Required value" in msgs
    assert any(m.startswith('target.kind: Unsupported value: "Pod"') for m in msgs)


def test_default_pod_spec_is_a_noop_on_non_dicts() -> None:
    default_pod_spec(None)  # type: ignore[arg-type]
    assert validate_pod_spec(None, "spec")[0].message == "spec: Required value"
