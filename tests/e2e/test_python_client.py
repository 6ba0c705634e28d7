"""The official `kubernetes` Python client (from PyPI) against a real `tug server`."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, config, utils, watch
from kubernetes.client.rest import ApiException

from .conftest import TugServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(tug: TugServer) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(tug.kubeconfig))


def test_core_crud(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="pc", labels={"a": "b"}), data={"k": "v"})
    created = v1.create_namespaced_config_map(ns, cm)
    assert created.metadata.uid and created.metadata.resource_version
    got = v1.read_namespaced_config_map("pc", ns)
    assert got.data == {"k": "v"}
    got.data["k"] = "v2"
    replaced = v1.replace_namespaced_config_map("pc", ns, got)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    # A write with the stale resourceVersion is a 409 Conflict.
    created.data = {"k": "stale"}
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("pc", ns, created)
    assert e.value.status == 409
    listed = v1.list_namespaced_config_map(ns, label_selector="a=b")
    assert [c.metadata.name for c in listed.items] == ["pc"]
    v1.delete_namespaced_config_map("pc", ns)
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_config_map("pc", ns)
    assert e.value.status == 404


def test_apps_crud_and_status_subresource(api: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pd"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "pd"}},
                 "template": {"metadata": {"labels": {"app": "pd"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    d = apps.create_namespaced_deployment(ns, body)
    assert d.spec.strategy.type == "RollingUpdate" and d.metadata.generation == 1
    # A status change sent to the main endpoint is dropped (the deployment controller owns
    # status, so only the generation is checked here; /status itself is covered with a CRD).
    apps.patch_namespaced_deployment("pd", ns, {"status": {"observedGeneration": 99}})
    assert apps.read_namespaced_deployment("pd", ns).status.observed_generation in (None, 1)
    scale = apps.read_namespaced_deployment_scale("pd", ns)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=pd"
    apps.patch_namespaced_deployment_scale("pd", ns, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("pd", ns).spec.replicas == 4
    apps.delete_namespaced_deployment("pd", ns)


def test_watch_sees_add_modify_delete(api: client.ApiClient, ns: str) -> None:
    v1 = client.CoreV1Api(api)
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def run() -> None:
        for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
            if ev["object"].metadata.name == "w":  # (the root-CA publisher adds kube-root-ca.crt)
                events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w")))
    v1.patch_namespaced_config_map("w", ns, {"data": {"x": "1"}})
    v1.delete_namespaced_config_map("w", ns)
    t.join(timeout=25)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_custom_objects(api: client.ApiClient, tug: TugServer, ns: str) -> None:
    ext = client.ApiextensionsV1Api(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.py.example.com"},
        "spec": {"group": "py.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                   "status": {"type": "object", "properties": {"seen": {"type": "integer"}}}}}}}]},
    }
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as e:
        if e.status != 409:
            raise
    co = client.CustomObjectsApi(api)
    deadline = time.monotonic() + 10
    while True:
        try:
            co.create_namespaced_custom_object("py.example.com", "v1", ns, "widgets",
                                               {"apiVersion": "py.example.com/v1", "kind": "Widget",
                                                "metadata": {"name": "w1"}, "spec": {"size": 3}})
            break
        except ApiException as e:
            if e.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    got = co.get_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1")
    assert got["spec"]["size"] == 3
    co.patch_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1", {"spec": {"size": 5}})
    # status only changes through /status, and a status write does not bump the generation
    co.patch_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1", {"status": {"seen": 1}})
    assert "status" not in co.get_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1")
    co.patch_namespaced_custom_object_status("py.example.com", "v1", ns, "widgets", "w1", {"status": {"seen": 2}})
    got = co.get_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1")
    assert got["status"] == {"seen": 2} and got["metadata"]["generation"] == 2
    items = co.list_namespaced_custom_object("py.example.com", "v1", ns, "widgets")["items"]
    assert [(i["metadata"]["name"], i["spec"]["size"]) for i in items] == [("w1", 5)]
    co.delete_namespaced_custom_object("py.example.com", "v1", ns, "widgets", "w1")


def test_create_from_yaml(api: client.ApiClient, ns: str, tmp_path) -> None:
    f = tmp_path / "app.yaml"
    f.write_text("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: fy}
spec:
  selector: {matchLabels: {app: fy}}
  template:
    metadata: {labels: {app: fy}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: fy}
spec:
  selector: {app: fy}
  ports: [{port: 80}]
""")
    utils.create_from_yaml(api, str(f), namespace=ns)
    assert client.AppsV1Api(api).read_namespaced_deployment("fy", ns).spec.replicas == 1
    svc = client.CoreV1Api(api).read_namespaced_service("fy", ns)
    assert svc.spec.ports[0].target_port == 80
