"""Discovery documents and Accept negotiation (what kubectl and older clients parse)."""

from __future__ import annotations

import pytest

from tugboat.api import discovery as D
from tugboat.api.scheme import ResourceType, default_scheme

KUBECTL_132 = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
KUBECTL_129 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"


@pytest.mark.parametrize(("accept", "want"), [
    (KUBECTL_132, "v2"),
    (KUBECTL_129, "v2beta1"),
    ("application/json, */*", None),
    ("application/json", None),
    ("", None),
    (None, None),
    ("application/vnd.kubernetes.protobuf,application/json", None),
    # parameter order is irrelevant, whitespace tolerated
    ("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io", "v2"),
    # an explicit preference for legacy JSON wins over a lower-q aggregated clause
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json", None),
    # unknown aggregated versions are skipped
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", None),
])
def test_negotiate(accept: str | None, want: str | None) -> None:
    assert D.negotiate(accept) == want


def test_content_types_are_exact() -> None:
    assert D.content_type("v2") == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert D.content_type("v2beta1") == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    assert D.content_type(None) == "application/json"


def test_aggregated_core() -> None:
    doc = D.aggregated(default_scheme(), core=True)
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert len(doc["items"]) == 1 and doc["items"][0]["metadata"]["name"] == ""
    (v1,) = doc["items"][0]["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert {"log", "exec", "attach", "portforward", "status", "eviction", "binding"} <= set(subs)
    assert subs["exec"]["verbs"] == ["create", "get"]
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    ns = next(r for r in v1["resources"] if r["resource"] == "namespaces")
    assert ns["scope"] == "Cluster"
    # every resource and subresource carries a responseKind, or client-go drops it
    assert all("responseKind" in r for r in v1["resources"])
    assert all("responseKind" in s for r in v1["resources"] for s in r.get("subresources", []))


def test_aggregated_apis_groups_and_versions_in_preference_order() -> None:
    doc = D.aggregated(default_scheme(), core=False, version="v2beta1")
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    names = [i["metadata"]["name"] for i in doc["items"]]
    assert "" not in names and names.index("apps") < names.index("batch")
    autoscaling = next(i for i in doc["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    apps = next(i for i in doc["items"] if i["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale == {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                     "verbs": ["get", "patch", "update"]}


def test_legacy_documents() -> None:
    s = default_scheme()
    assert D.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}
    groups = D.api_group_list(s)
    assert groups["kind"] == "APIGroupList"
    auto = next(g for g in groups["groups"] if g["name"] == "autoscaling")
    assert auto["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    assert D.api_group(s, "apps") == {"kind": "APIGroup", "apiVersion": "v1", "name": "apps",
                                      "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                                      "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
    assert D.api_group(s, "nope.example.com") is None
    assert D.api_resource_list(s, "nope", "v1") is None


def test_legacy_resource_list_includes_subresources() -> None:
    core = D.api_resource_list(default_scheme(), "", "v1")
    assert core is not None and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["singularName"] == "pod" and by_name["pods"]["namespaced"] is True
    assert by_name["pods/log"] == {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                                   "verbs": ["get"]}
    assert by_name["pods/eviction"]["group"] == "policy" and by_name["pods/eviction"]["kind"] == "Eviction"
    assert "storageVersionHash" in by_name["pods"]
    apps = D.api_resource_list(default_scheme(), "apps", "v1")
    assert apps is not None
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    status = next(r for r in apps["resources"] if r["name"] == "deployments/status")
    assert "group" not in status and status["kind"] == "Deployment"


def test_crd_types_appear_and_etag_tracks_content() -> None:
    s = default_scheme()
    before = D.aggregated(s, core=False)
    assert D.etag(before) == D.etag(D.aggregated(s, core=False))
    s.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", "crontab", True, ("ct",), custom=True))
    after = D.aggregated(s, core=False)
    assert D.etag(after) != D.etag(before)
    assert D.etag(after).startswith('"') and D.etag(after).endswith('"')
    item = next(i for i in after["items"] if i["metadata"]["name"] == "stable.example.com")
    assert item["versions"][0]["resources"][0]["shortNames"] == ["ct"]


def test_encoded_aggregated_is_reused_until_the_scheme_changes() -> None:
    s = default_scheme()
    body, tag = D.encoded_aggregated(s, core=False)
    assert D.encoded_aggregated(s, core=False)[0] is body
    assert tag == D.etag_bytes(body)
    s.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", "crontab", True, custom=True))
    body2, tag2 = D.encoded_aggregated(s, core=False)
    assert tag2 != tag and b"crontabs" in body2
    assert D.encoded_aggregated(s, core=True, version="v2beta1")[0].count(b"apidiscovery.k8s.io/v2beta1") == 1
