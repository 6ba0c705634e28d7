"""Namespace, ConfigMap, Secret and ServiceAccount strategies."""

import base64
from typing import Any

from tugboat.api.kinds.core_config import ConfigMapStrategy, SecretStrategy, ServiceAccountStrategy
from tugboat.api.kinds.core_namespace import NamespaceStrategy

NS = NamespaceStrategy()
CM = ConfigMapStrategy()
SEC = SecretStrategy()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def meta(name: str = "x") -> dict[str, Any]:
    return {"name": name, "namespace": "default"}


def test_namespace_create_defaults() -> None:
    ns: dict[str, Any] = {"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "spoof"}},
                          "status": {"phase": "Terminating"}}
    NS.prepare_for_create(ns)
    NS.default(ns)
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    assert NS.validate(ns) == []
    assert NS.field_values(ns) == {"metadata.name": "team-a", "status.phase": "Active"}


def test_namespace_name_and_scope() -> None:
    bad = {"metadata": {"name": "a.b", "namespace": "default"}}
    msgs = [e.message for e in NS.validate(bad)]
    assert any(m.startswith('metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label') for m in msgs)
    assert "metadata.namespace: Forbidden: not allowed on this type" in msgs


def test_namespace_finalizers() -> None:
    ns = {"metadata": {"name": "a"}, "spec": {"finalizers": ["custom", "example.com/x"]}}
    msgs = [e.message for e in NS.validate(ns)]
    assert msgs == ['spec.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer name nor is '
                    'it fully qualified']
    old = {"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    new = {"metadata": {"name": "a"}, "spec": {"finalizers": []}}
    NS.prepare_for_update(new, old)
    assert new["spec"]["finalizers"] == ["kubernetes"]  # only /finalize changes them
    NS.prepare_for_finalize_update(new, old)


def test_configmap_keys_and_size() -> None:
    cm = {"metadata": meta(), "data": {"ok.key": "v", "bad key": "v", "..x": "v", "b": "1"},
          "binaryData": {"b": b64("x")}}
    msgs = [e.message for e in CM.validate(cm)]
    assert any(m.startswith('data: Invalid value: "bad key": a valid config key must consist of alphanumeric') for m in msgs)
    assert "data: Invalid value: \"..x\": must not start with '..'" in msgs
    assert 'binaryData: Invalid value: "b": duplicate of key present in data' in msgs
    big = {"metadata": meta(), "data": {"a": "x" * (1024 * 1024 + 1)}}
    assert [e.reason for e in CM.validate(big)] == ["FieldValueTooLong"]


def test_configmap_immutable() -> None:
    old = {"metadata": meta(), "data": {"a": "1"}, "immutable": True}
    new = {"metadata": meta(), "data": {"a": "2"}, "immutable": True}
    msgs = [e.message for e in CM.validate_update(new, old)]
    assert msgs == ["data: Forbidden: field is immutable when `immutable` is set"]
    unset = {"metadata": meta(), "data": {"a": "1"}, "immutable": False}
    assert [e.message for e in CM.validate_update(unset, old)] == [
        "immutable: Forbidden: field is immutable when `immutable` is set"]
    mutable_old = {"metadata": meta(), "data": {"a": "1"}}
    assert CM.validate_update(new, mutable_old) == []


def test_secret_defaults_and_string_data() -> None:
    s: dict[str, Any] = {"metadata": meta(), "data": {"a": b64("old")}, "stringData": {"a": "new", "b": "two"}}
    SEC.default(s)
    assert s["type"] == "Opaque"
    assert "stringData" not in s
    assert base64.b64decode(s["data"]["a"]) == b"new"
    assert SEC.validate(s) == []
    assert SEC.field_values(s)["type"] == "Opaque"


def test_secret_validation() -> None:
    s = {"metadata": meta(), "type": "Opaque", "data": {"a": "not base64!!", "bad key": b64("x")}}
    msgs = [e.message for e in SEC.validate(s)]
    assert 'data[a]: Invalid value: "<secret contents redacted>": must be base64-encoded bytes' in msgs
    assert any(m.startswith('data: Invalid value: "bad key"') for m in msgs)
    big = {"metadata": meta(), "type": "Opaque", "data": {"a": b64("x" * (1024 * 1024 + 1))}}
    assert [e.message for e in SEC.validate(big)] == ["data: Too long: may not be more than 1048576 bytes"]


def test_secret_type_rules() -> None:
    def msgs(t: str, data: dict[str, str] | None = None, ann: dict[str, str] | None = None) -> list[str]:
        m = meta()
        if ann:
            m["annotations"] = ann
        return [e.message for e in SEC.validate({"metadata": m, "type": t, "data": data or {}})]

    assert msgs("kubernetes.io/service-account-token") == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"]
    assert msgs("kubernetes.io/service-account-token", ann={"kubernetes.io/service-account.name": "sa"}) == []
    assert msgs("kubernetes.io/dockerconfigjson") == ["data[.dockerconfigjson]: Required value"]
    bad_json = msgs("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64("{nope")})
    assert bad_json[0].startswith('data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"')
    assert msgs("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64('{"auths":{}}')}) == []
    assert msgs("kubernetes.io/basic-auth") == ["data[username]: Required value", "data[password]: Required value"]
    assert msgs("kubernetes.io/basic-auth", {"password": b64("p")}) == []
    assert msgs("kubernetes.io/ssh-auth") == ["data[ssh-privatekey]: Required value"]
    assert msgs("kubernetes.io/tls", {"tls.crt": b64("c")}) == ["data[tls.key]: Required value"]


def test_secret_update_rules() -> None:
    old = {"metadata": meta(), "type": "Opaque", "data": {"a": b64("1")}, "immutable": True}
    new = {"metadata": meta(), "type": "kubernetes.io/tls", "data": {"a": b64("2")}, "immutable": True}
    msgs = [e.message for e in SEC.validate_update(new, old)]
    assert 'type: Invalid value: "kubernetes.io/tls": field is immutable' in msgs
    assert "data: Forbidden: field is immutable when `immutable` is set" in msgs


def test_service_account() -> None:
    sa = ServiceAccountStrategy()
    assert sa.validate({"metadata": meta("default"), "secrets": [{"name": "tok"}]}) == []
    msgs = [e.message for e in sa.validate({"metadata": meta("default"), "imagePullSecrets": [{"name": "Bad"}]})]
    assert any(m.startswith('imagePullSecrets[0].name: Invalid value: "Bad"') for m in msgs)
