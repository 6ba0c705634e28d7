"""Environment resolution, $(VAR) expansion, safe subPath, atomic volume writes."""

from __future__ import annotations

import base64
import os

import pytest

from tugboat.node.atomic_writer import write_atomic
from tugboat.node.envvars import ConfigError, build_env, command_and_args, expand
from tugboat.node.subpath import UnsafePath, check_working_dir, resolve_subpath
from tugboat.node.volumes import VolumeManager

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
       "spec": {"nodeName": "n1", "serviceAccountName": "sa"},
       "status": {"podIP": "10.0.0.5", "hostIP": "192.168.1.2"}}
OBJS = {("ConfigMap", "ns", "cm"): {"data": {"A": "1", "B": "two", "bad-key!": "x"}},
        ("Secret", "ns", "sec"): {"data": {"PW": base64.b64encode(b"hunter2").decode()}}}


async def _get(kind, ns, name):
    return OBJS.get((kind, ns, name))


def test_expand_like_upstream():
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$(A", env) == "$(A"
    assert expand("a$b", env) == "a$b"


async def test_env_sources_order_and_refs():
    c = {"name": "app", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
         "env": [{"name": "CM_A", "value": "override"},
                 {"name": "GREETING", "value": "hi $(CM_B)"},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PW"}}},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                 {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
         "command": ["echo", "$(GREETING)"], "args": ["$(POD)", "$$(POD)"]}
    env = await build_env(POD, c, _get, {"memory": "2Gi"})
    assert env["CM_A"] == "override" and env["CM_B"] == "two" and "CM_bad-key!" not in env
    assert env["GREETING"] == "hi two" and env["PW"] == "hunter2" and env["POD"] == "p"
    assert env["APP"] == "web" and env["IP"] == "10.0.0.5" and env["MEM"] == "2048" and "OPT" not in env
    assert command_and_args(c, env) == (["echo", "hi two"], ["p", "$(POD)"])


async def test_missing_configmap_and_key_are_config_errors():
    with pytest.raises(ConfigError, match='configmap "gone" not found'):
        await build_env(POD, {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}]},
                        _get, {})
    with pytest.raises(ConfigError, match="couldn't find key Z in ConfigMap ns/cm"):
        await build_env(POD, {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "Z"}}}]},
                        _get, {})


def test_subpath_refuses_symlink_escape_and_working_dir(tmp_path):
    root = tmp_path / "vol"
    root.mkdir()
    (root / "escape").symlink_to("/")
    with pytest.raises(UnsafePath):
        resolve_subpath(str(root), "escape/etc")
    with pytest.raises(UnsafePath):
        resolve_subpath(str(root), "../x")
    assert resolve_subpath(str(root), "a/b") == str(root / "a" / "b") and (root / "a" / "b").is_dir()
    with pytest.raises(UnsafePath):
        check_working_dir("/proc/self/fd/7")
    check_working_dir("/work")


def test_atomic_writer_swaps_data_dir(tmp_path):
    d = str(tmp_path / "cm")
    assert write_atomic(d, {"a": (b"1", 0o644), "sub/b": (b"2", 0o600)})
    first = os.readlink(os.path.join(d, "..data"))
    assert open(os.path.join(d, "a")).read() == "1" and os.path.islink(os.path.join(d, "a"))
    assert not write_atomic(d, {"a": (b"1", 0o644), "sub/b": (b"2", 0o600)})  # unchanged: no swap
    assert write_atomic(d, {"a": (b"9", 0o644)})
    assert os.readlink(os.path.join(d, "..data")) != first and not os.path.exists(os.path.join(d, first))
    assert open(os.path.join(d, "a")).read() == "9" and not os.path.lexists(os.path.join(d, "sub"))
    with pytest.raises(ValueError):
        write_atomic(d, {"../x": (b"", 0o644)})


async def test_volume_manager_materializes_configmap_secret_and_mounts(tmp_path):
    vm = VolumeManager(str(tmp_path))
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "A", "path": "a.txt"}]}},
        {"name": "s", "secret": {"secretName": "sec", "defaultMode": 0o400}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "info", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}}
    paths = await vm.setup(pod, _get)
    assert open(os.path.join(paths["cfg"], "a.txt")).read() == "1"
    assert open(os.path.join(paths["s"], "PW")).read() == "hunter2"
    assert os.stat(os.path.join(paths["s"], "PW")).st_mode & 0o777 == 0o400
    assert open(os.path.join(paths["info"], "name")).read() == "p"
    assert paths["scratch"].endswith("pods/u1/volumes/kubernetes.io~empty-dir/scratch")
    mounts = vm.mounts({"name": "app", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
                                                         {"name": "scratch", "mountPath": "/data", "subPath": "x"}]},
                       paths, {})
    assert (mounts[0].container_path, mounts[0].readonly) == ("/etc/cfg", True)
    assert mounts[1].host_path == os.path.join(paths["scratch"], "x")
    vm.teardown("u1")
    assert not os.path.exists(vm.pod_dir("u1"))
