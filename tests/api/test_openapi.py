"""OpenAPI v3 index and group-version documents (the parts kubectl and tools rely on)."""

from __future__ import annotations

from typing import Any

import orjson

from tugboat.api import openapi as O
from tugboat.api.openapi import components as C
from tugboat.api.scheme import ResourceType, Scheme, Subresource, default_scheme

CRON: dict[str, Any] = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}}}}


def _with_crd() -> Scheme:
    s = default_scheme()
    s.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", "crontab", True, ("ct",),
                       subresources=(Subresource("status", "CronTab", "stable.example.com", "v1"),), custom=True))
    return s


def _crd_for(group: str, version: str) -> O.CrdSchemas | None:
    return {("CronTab", "crontabs"): CRON} if group == "stable.example.com" else None


def _refs(node: Any, out: set[str]) -> set[str]:
    C.refs_in(node, out)
    return out


def test_index_lists_every_group_version_with_its_content_hash() -> None:
    s = default_scheme()
    idx = O.index(s)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/apps", "apis/autoscaling/v1", "apis/autoscaling/v2"} <= set(idx)
    url = idx["apis/apps/v1"]["serverRelativeURL"]
    body, h = O.encoded_path(s, "apis/apps/v1") or (b"", "")
    assert url == f"/openapi/v3/apis/apps/v1?hash={h}"
    assert h == O.content_hash(body) and len(h) == 128
    assert O.encoded_path(s, "apis/nope/v1") is None and O.encoded_path(s, "bogus") is None


def test_deployment_patch_operation_advertises_what_kubectl_checks() -> None:
    doc = O.group_version_doc(default_scheme(), "apps", "v1")
    assert doc is not None and doc["openapi"].startswith("3.0")
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert patch["x-kubernetes-action"] == "patch" and patch["operationId"] == "patchAppsV1NamespacedDeployment"
    names = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
    assert {"get", "put", "delete", "patch", "parameters"} <= set(item)
    coll = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    list_params = {p["name"] for p in coll["get"]["parameters"]}
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
            "watch", "allowWatchBookmarks", "timeoutSeconds", "sendInitialEvents"} <= list_params
    assert coll["get"]["x-kubernetes-action"] == "list" and coll["post"]["x-kubernetes-action"] == "post"
    assert coll["delete"]["x-kubernetes-action"] == "deletecollection"
    delete_params = {p["name"] for p in item["delete"]["parameters"]}
    assert {"gracePeriodSeconds", "propagationPolicy", "dryRun"} <= delete_params
    assert doc["paths"]["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"


def test_every_reference_resolves_and_schemas_keep_upstream_extensions() -> None:
    doc = O.group_version_doc(default_scheme(), "apps", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    assert _refs(doc, set()) <= set(schemas)
    deploy = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    spec = deploy["properties"]["spec"]  # a described $ref is wrapped in allOf, as upstream
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]
    assert "desired behavior" in spec["description"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    ios = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["format"] == "int-or-string"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas  # referenced from the scale subresource
    assert "io.k8s.api.batch.v1.Job" not in schemas  # only what is referenced


def test_core_pod_subresources() -> None:
    doc = O.group_version_doc(default_scheme(), "", "v1")
    assert doc is not None
    paths = doc["paths"]
    exec_ = paths["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert set(exec_) == {"get", "post", "parameters"}
    assert exec_["get"]["x-kubernetes-action"] == "connect"
    assert {p["name"] for p in exec_["get"]["parameters"]} >= {"command", "container", "stdin", "tty"}
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert {p["name"] for p in log["parameters"]} >= {"follow", "tailLines", "sinceSeconds", "timestamps"}
    eviction = paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"]["group"] == "policy"
    assert "/api/v1/nodes/{name}" in paths and "/api/v1/namespaces/{namespace}/nodes" not in paths


def test_custom_resource_document() -> None:
    s = _with_crd()
    doc = O.group_version_doc(s, "stable.example.com", "v1", _crd_for("stable.example.com", "v1"))
    assert doc is not None
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    schemas = doc["components"]["schemas"]
    ct = schemas["com.example.stable.v1.CronTab"]
    assert ct["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab",
                                                       "version": "v1"}]
    assert ct["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert ct["properties"]["spec"]["properties"]["cronSpec"] == {"type": "string"}
    assert set(ct["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert schemas["com.example.stable.v1.CronTabList"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/com.example.stable.v1.CronTab"}
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry" in schemas  # via ObjectMeta
    assert CRON["properties"].keys() == {"spec"}  # the CRD's own schema was not mutated


def test_documents_are_cached_and_a_crd_change_rebuilds_only_its_group_version() -> None:
    s = _with_crd()
    apps1 = O.encoded(s, "apps", "v1")
    crd1 = O.encoded(s, "stable.example.com", "v1", _crd_for("stable.example.com", "v1"))
    apps_doc = O.group_version_doc(s, "apps", "v1")
    assert apps_doc is O.group_version_doc(s, "apps", "v1")
    s.add(ResourceType("other.example.com", "v1", "Thing", "things", "thing", False, custom=True))
    assert O.group_version_doc(s, "apps", "v1") is apps_doc  # not rebuilt for an unrelated CRD
    assert O.encoded(s, "apps", "v1") == apps1
    changed = {("CronTab", "crontabs"): {"type": "object", "properties": {"spec": {"type": "string"}}}}
    crd2 = O.encoded(s, "stable.example.com", "v1", changed)
    assert crd1 is not None and crd2 is not None and crd1[1] != crd2[1]
    idx = O.index(s, _crd_for)["paths"]
    assert "apis/other.example.com/v1" in idx and "apis/stable.example.com/v1" in idx
    thing = orjson.loads(O.encoded_path(s, "apis/other.example.com/v1")[0])  # type: ignore[index]
    # a CRD version without a schema accepts anything
    assert thing["components"]["schemas"]["com.example.other.v1.Thing"]["x-kubernetes-preserve-unknown-fields"]
