from datetime import UTC, datetime, timedelta

import pytest

from tugboat.api import tables
from tugboat.api.scheme import default_scheme

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)


def ts(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name="x", ago=timedelta(minutes=5), **extra):
    return {"name": name, "namespace": "default", "creationTimestamp": ts(ago), "resourceVersion": "7", **extra}


@pytest.mark.parametrize("seconds, text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (125, "2m5s"),
    (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (8 * 3600, "8h"),
    (47 * 3600, "47h"), (48 * 3600, "2d"), (51 * 3600, "2d3h"), (8 * 86400, "8d"), (729 * 86400, "729d"),
    (730 * 86400, "2y"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds, text):
    assert tables.human_duration(seconds) == text


def names(group, kind):
    return [(c["name"], c["priority"]) for c in tables.column_definitions(group, kind)]


@pytest.mark.parametrize("group, kind, columns", [
    ("", "Pod", ["Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*", "Readiness Gates*"]),
    ("apps", "Deployment", ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*",
                            "Selector*"]),
    ("", "Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"]),
    ("", "Node", ["Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*",
                  "Kernel-Version*", "Container-Runtime*"]),
    ("", "Namespace", ["Name", "Status", "Age"]),
    ("", "Event", ["Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message", "First Seen*",
                   "Count*", "Name*"]),
    ("batch", "Job", ["Name", "Status", "Completions", "Duration", "Age", "Containers*", "Images*", "Selector*"]),
    ("rbac.authorization.k8s.io", "ClusterRole", ["Name", "Created At"]),
])
def test_columns_like_kubectl(group, kind, columns):
    assert names(group, kind) == [(c.rstrip("*"), 1 if c.endswith("*") else 0) for c in columns]


def test_every_builtin_kind_has_consistent_columns_and_rows():
    for rt in default_scheme().all():
        defs = tables.column_definitions(rt.group, rt.kind)
        assert defs[0]["name"] in ("Name", "Last Seen")
        for d in defs:
            assert set(d) == {"name", "type", "format", "description", "priority"}
            assert d["description"], (rt.kind, d["name"])
        row = tables.row_for(rt.group, rt.kind, {"metadata": meta()}, now=NOW)
        assert len(row["cells"]) == len(defs), rt.kind


def cells(group, kind, obj):
    return tables.row_for(group, kind, obj, now=NOW)["cells"]


def pod(status=None, spec=None, **m):
    return {"metadata": meta("p", **m), "spec": spec or {"containers": [{"name": "c"}]}, "status": status or {}}


def cs(state, ready=False, restarts=0, last=None, name="c", **kw):
    d = {"name": name, "state": state, "ready": ready, "restartCount": restarts, **kw}
    if last:
        d["lastState"] = {"terminated": {"finishedAt": ts(last), "exitCode": 1}}
    return d


@pytest.mark.parametrize("p, ready, status, restarts", [
    (pod({"phase": "Pending"}), "0/1", "Pending", "0"),
    (pod({"phase": "Pending", "containerStatuses": [cs({"waiting": {"reason": "ContainerCreating"}})]}),
     "0/1", "ContainerCreating", "0"),
    (pod({"phase": "Running", "containerStatuses": [cs({"running": {}}, ready=True)]}), "1/1", "Running", "0"),
    (pod({"phase": "Running", "containerStatuses": [
        cs({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=3, last=timedelta(minutes=5))]}),
     "0/1", "CrashLoopBackOff", "3 (5m ago)"),
    (pod({"phase": "Succeeded", "containerStatuses": [cs({"terminated": {"reason": "Completed", "exitCode": 0}})]}),
     "0/1", "Completed", "0"),
    (pod({"phase": "Failed", "containerStatuses": [cs({"terminated": {"exitCode": 2}})]}), "0/1", "ExitCode:2", "0"),
    (pod({"phase": "Failed", "containerStatuses": [cs({"terminated": {"signal": 9, "exitCode": 137}})]}),
     "0/1", "Signal:9", "0"),
    (pod({"phase": "Running", "containerStatuses": [cs({"running": {}}, ready=True)]},
         deletionTimestamp=ts(timedelta(0))), "1/1", "Terminating", "0"),
    (pod({"phase": "Running", "reason": "NodeLost"}, deletionTimestamp=ts(timedelta(0))), "0/1", "Unknown", "0"),
    (pod({"phase": "Succeeded"}, deletionTimestamp=ts(timedelta(0))), "0/1", "Succeeded", "0"),
    (pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                             "reason": "SchedulingGated"}]}), "0/1", "SchedulingGated", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [cs({"waiting": {"reason": "PodInitializing"}}, name="i")]},
         spec={"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}), "0/1", "Init:0/1", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [
        cs({"terminated": {"exitCode": 0}}, name="i1"), cs({"running": {}}, name="i2")]},
         spec={"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "c"}]}),
     "0/1", "Init:1/2", "0"),
    (pod({"phase": "Pending", "initContainerStatuses": [
        cs({"waiting": {"reason": "CrashLoopBackOff"}}, name="i", restarts=2, last=timedelta(hours=1))]},
         spec={"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}),
     "0/1", "Init:CrashLoopBackOff", "2 (60m ago)"),
    (pod({"phase": "Pending", "initContainerStatuses": [cs({"terminated": {"exitCode": 1}}, name="i")]},
         spec={"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}), "0/1", "Init:ExitCode:1", "0"),
    # A started sidecar (restartable init container) counts towards READY and the total.
    (pod({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
          "initContainerStatuses": [cs({"running": {}}, name="side", ready=True, started=True)],
          "containerStatuses": [cs({"running": {}}, ready=True)]},
         spec={"initContainers": [{"name": "side", "restartPolicy": "Always"}], "containers": [{"name": "c"}]}),
     "2/2", "Running", "0"),
    # A completed container next to a running one: Running when Ready, NotReady otherwise.
    (pod({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [
        cs({"running": {}}, ready=True, name="a"), cs({"terminated": {"reason": "Completed"}}, name="b")]},
         spec={"containers": [{"name": "a"}, {"name": "b"}]}), "1/2", "Running", "0"),
    (pod({"phase": "Running", "containerStatuses": [
        cs({"running": {}}, ready=True, name="a"), cs({"terminated": {"reason": "Completed"}}, name="b")]},
         spec={"containers": [{"name": "a"}, {"name": "b"}]}), "1/2", "NotReady", "0"),
])
def test_pod_status_cells(p, ready, status, restarts):
    c = cells("", "Pod", p)
    assert c[:5] == ["p", ready, status, restarts, "5m"]


def test_pod_wide_cells_and_completed_condition():
    p = pod({"phase": "Succeeded", "podIPs": [{"ip": "10.0.0.5"}], "nominatedNodeName": "n2",
             "conditions": [{"type": "www.example.com/gate", "status": "True"}]},
            spec={"containers": [{"name": "c"}], "nodeName": "n1",
                  "readinessGates": [{"conditionType": "www.example.com/gate"}, {"conditionType": "other"}]})
    row = tables.row_for("", "Pod", p, now=NOW)
    assert row["cells"][5:] == ["10.0.0.5", "n1", "n2", "1/2"]
    assert row["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                  "message": "The pod has completed successfully."}]


def tmpl(*containers):
    return {"spec": {"containers": [{"name": n, "image": n + ":1"} for n in containers]}}


@pytest.mark.parametrize("group, kind, obj, expected", [
    ("apps", "Deployment",
     {"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                        "template": tmpl("nginx", "side")},
      "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
     ["web", "2/3", 3, 2, "5m", "nginx,side", "nginx:1,side:1", "app=web"]),
    ("apps", "StatefulSet", {"metadata": meta("db"), "spec": {"replicas": 2, "template": tmpl("pg")}},
     ["db", "0/2", "5m", "pg", "pg:1"]),
    ("", "Service",
     {"metadata": meta("svc"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"], "selector": {"app": "a"},
                                        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                                  {"port": 53, "protocol": "UDP"}]}},
     ["svc", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "5m", "app=a"]),
    ("", "Service", {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIP": "None"}},
     ["lb", "LoadBalancer", "None", "<pending>", "<none>", "5m", "<none>"]),
    ("", "Service", {"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "example.com"}},
     ["ext", "ExternalName", "<none>", "example.com", "<none>", "5m", "<none>"]),
    ("", "Node",
     {"metadata": meta("n1", ago=timedelta(days=2, hours=3), labels={"node-role.kubernetes.io/control-plane": ""}),
      "spec": {"unschedulable": True},
      "status": {"conditions": [{"type": "Ready", "status": "True"}],
                 "addresses": [{"type": "InternalIP", "address": "192.0.2.1"}],
                 "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian", "kernelVersion": "6.1",
                              "containerRuntimeVersion": "runc://1.1"}}},
     ["n1", "Ready,SchedulingDisabled", "control-plane", "2d3h", "v1.32.0", "192.0.2.1", "<none>", "Debian",
      "6.1", "runc://1.1"]),
    ("", "Namespace", {"metadata": meta("ns"), "status": {"phase": "Active"}}, ["ns", "Active", "5m"]),
    ("", "Event",
     {"metadata": meta("ev"), "type": "Warning", "reason": "BackOff", "message": " Back-off restarting \n",
      "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
      "source": {"component": "kubelet", "host": "n1"}, "count": 4,
      "firstTimestamp": ts(timedelta(hours=1)), "lastTimestamp": ts(timedelta(seconds=30))},
     ["30s", "Warning", "BackOff", "pod/p", "spec.containers{c}", "kubelet, n1", "Back-off restarting", "60m", 4,
      "ev"]),
    ("events.k8s.io", "Event",
     {"metadata": meta("ev"), "type": "Normal", "reason": "Scheduled", "note": "ok",
      "regarding": {"kind": "Pod", "name": "p"}, "eventTime": "2024-05-10T11:59:00.000000Z",
      "reportingController": "default-scheduler"},
     ["60s", "Normal", "Scheduled", "pod/p", "", "default-scheduler", "ok", "60s", 1, "ev"]),
    ("batch", "Job",
     {"metadata": meta("j"), "spec": {"completions": 3, "template": tmpl("w"), "selector": {"matchLabels": {"a": "b"}}},
      "status": {"succeeded": 3, "startTime": ts(timedelta(minutes=4)), "completionTime": ts(timedelta(minutes=1)),
                 "conditions": [{"type": "Complete", "status": "True"}]}},
     ["j", "Complete", "3/3", "3m", "5m", "w", "w:1", "a=b"]),
    ("batch", "Job", {"metadata": meta("j"), "spec": {"parallelism": 2}, "status": {"startTime": ts(timedelta(seconds=42))}},
     ["j", "Running", "0/1 of 2", "42s", "5m", "", "", "<none>"]),
    ("batch", "CronJob",
     {"metadata": meta("cj"), "spec": {"schedule": "*/1 * * * *", "suspend": False,
                                       "jobTemplate": {"spec": {"template": tmpl("w")}}},
      "status": {"active": [{"name": "j1"}], "lastScheduleTime": ts(timedelta(seconds=20))}},
     ["cj", "*/1 * * * *", "<none>", "False", 1, "20s", "5m", "w", "w:1", "<none>"]),
    ("", "ConfigMap", {"metadata": meta("cm"), "data": {"a": "1"}, "binaryData": {"b": ""}}, ["cm", 2, "5m"]),
    ("", "Secret", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}}, ["s", "Opaque", 1, "5m"]),
    ("", "Endpoints",
     {"metadata": meta("e"), "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::1"}],
                                          "ports": [{"port": 80}, {"port": 81}]}]},
     ["e", "10.0.0.1:80,10.0.0.2:80,[fd00::1]:80 + 3 more...", "5m"]),
    ("", "PersistentVolumeClaim",
     {"metadata": meta("c"), "spec": {"volumeName": "pv1", "storageClassName": "fast"},
      "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]}},
     ["c", "Bound", "pv1", "1Gi", "RWO,RWX", "fast", "<unset>", "5m", "<unset>"]),
    ("", "ResourceQuota",
     {"metadata": meta("q"), "status": {"hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
                                       "used": {"pods": "3", "requests.cpu": "500m"}}},
     ["q", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2", "5m"]),
    ("rbac.authorization.k8s.io", "RoleBinding",
     {"metadata": meta("rb"), "roleRef": {"kind": "ClusterRole", "name": "view"},
      "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                   {"kind": "Group", "name": "devs"}]},
     ["rb", "ClusterRole/view", "5m", "alice", "devs", "ns/sa"]),
    ("rbac.authorization.k8s.io", "Role", {"metadata": meta("r")}, ["r", "2024-05-10T11:55:00Z"]),
    ("storage.k8s.io", "StorageClass",
     {"metadata": meta("sc", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
      "provisioner": "p"}, ["sc (default)", "p", "Delete", "Immediate", False, "5m"]),
    ("policy", "PodDisruptionBudget", {"metadata": meta("pdb"), "spec": {"minAvailable": "50%"},
                                       "status": {"disruptionsAllowed": 1}}, ["pdb", "50%", "N/A", 1, "5m"]),
    ("autoscaling", "HorizontalPodAutoscaler",
     {"metadata": meta("h"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                                      "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                                          "type": "Utilization", "averageUtilization": 80}}}]},
      "status": {"currentReplicas": 2, "currentMetrics": [
          {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}},
     ["h", "Deployment/web", "cpu: 12%/80%", "<unset>", 5, 2, "5m"]),
    ("apps", "ControllerRevision",
     {"metadata": meta("cr", ownerReferences=[{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds",
                                               "controller": True}]), "revision": 2},
     ["cr", "daemonset.apps/ds", 2, "5m"]),
    ("networking.k8s.io", "Ingress",
     {"metadata": meta("i"), "spec": {"ingressClassName": "nginx", "tls": [{}],
                                      "rules": [{"host": "a.example"}, {"host": "b.example"}]},
      "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}},
     ["i", "nginx", "a.example,b.example", "192.0.2.9", "80, 443", "5m"]),
    ("discovery.k8s.io", "EndpointSlice",
     {"metadata": meta("es"), "addressType": "IPv4", "ports": [{"port": 80}, {"name": "x"}],
      "endpoints": [{"addresses": ["10.0.0.1"]}]}, ["es", "IPv4", "80,x", "10.0.0.1", "5m"]),
])
def test_cells(group, kind, obj, expected):
    assert cells(group, kind, obj) == expected


def test_table_shape_and_include_object():
    objs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("a"), "data": {}}]
    t = tables.to_table("", "ConfigMap", objs, now=NOW, list_meta={"resourceVersion": "42", "continue": "tok"})
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "42", "continue": "tok"}
    assert t["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                      "metadata": objs[0]["metadata"]}
    assert "conditions" not in t["rows"][0]
    single = tables.to_table("", "ConfigMap", objs, now=NOW, include_object="Object")
    assert single["metadata"] == {"resourceVersion": "7"} and single["rows"][0]["object"] is objs[0]
    none = tables.to_table("", "ConfigMap", objs, now=NOW, include_object="None", no_headers=True)
    assert none["rows"][0]["object"] is None and none["columnDefinitions"] is None


CRD_COLUMNS = [
    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
     "description": "readiness"},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
    {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
    {"name": "Started", "type": "date", "jsonPath": ".status.started"},
    {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"},
]


def test_custom_resource_columns():
    defs = tables.column_definitions("example.com", "CronTab", CRD_COLUMNS)
    assert [d["name"] for d in defs] == ["Name", "Spec", "Replicas", "Ready", "Ratio", "On", "Started", "Missing"]
    assert defs[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.cronSpec"
    assert defs[2]["priority"] == 1 and defs[3]["description"] == "readiness"
    obj = {"metadata": meta("ct"), "spec": {"cronSpec": "* * * * */5", "replicas": 2, "ratio": 1, "on": True},
           "status": {"conditions": [{"type": "Ready", "status": "True"}], "started": ts(timedelta(hours=2))}}
    row = tables.row_for("example.com", "CronTab", obj, now=NOW, crd_columns=CRD_COLUMNS)
    assert row["cells"] == ["ct", "* * * * */5", 2, "True", 1.0, True, "120m", None]
    default = tables.to_table("example.com", "CronTab", [obj], now=NOW, crd_columns=[])
    assert [d["name"] for d in default["columnDefinitions"]] == ["Name", "Age"]
    assert default["columnDefinitions"][1]["type"] == "date" and default["rows"][0]["cells"] == ["ct", "5m"]
