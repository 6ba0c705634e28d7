"""`tug server --registry-bind`: the local registry served to other hosts, and agents that
join learn it as their docker.io mirror from kube-public/tugboat-registries."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.apiserver import running_apiserver
from tugboat.cli.join import MIRROR_ROLE, join_rbac
from tugboat.cli.registry import LocalRegistry, fetch_mirror, mirror_configmap, publish_mirror
from tugboat.node.images.regconfig import RegistryConfig


def test_bind_and_addresses(tmp_path: Path) -> None:
    loop = LocalRegistry(tmp_path, 5000)
    assert not loop.shared and loop.host == "127.0.0.1:5000"
    anyaddr = LocalRegistry(tmp_path, 5000, bind="0.0.0.0", advertise="192.0.2.10")
    assert anyaddr.shared and anyaddr.host == "127.0.0.1:5000"  # the local agent/pushes stay on loopback
    assert anyaddr.remote_url == "http://192.0.2.10:5000"
    one = LocalRegistry(tmp_path, 5000, bind="192.0.2.10")
    assert one.shared and one.host == "192.0.2.10:5000" and one.remote_url == "http://192.0.2.10:5000"
    anyaddr.write_config()
    assert yaml.safe_load((tmp_path / "registry/config.yml").read_text())["http"]["addr"] == "0.0.0.0:5000"


def test_mirror_config_is_a_registries_yaml_agents_understand(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path, 5000, bind="0.0.0.0", advertise="192.0.2.10")
    text = mirror_configmap(reg)["data"]["registries.yaml"]
    path = tmp_path / "r.yaml"
    path.write_text(text)
    cfg = RegistryConfig.load(str(path))
    doc = yaml.safe_load(text)
    assert doc["mirrors"]["docker.io"]["endpoint"] == ["http://192.0.2.10:5000"]
    assert doc["mirrors"]["192.0.2.10:5000"]["endpoint"] == ["http://192.0.2.10:5000"]
    # the agent's image service tries the shared registry first for Docker Hub images
    first = cfg.endpoints("docker.io")[0]
    assert first.url == "http://192.0.2.10:5000" and first.mirror


async def test_published_then_fetched_by_a_joined_agent(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path, 5000, bind="0.0.0.0", advertise="192.0.2.10")
    async with running_apiserver() as (_srv, client):
        assert await fetch_mirror(client, tmp_path / "agent.yaml") is None  # no shared registry: nothing
        await publish_mirror(client, reg)
        reg.port = 5001
        await publish_mirror(client, reg)  # a restart with another port updates it
        got = await fetch_mirror(client, tmp_path / "agent.yaml")
        assert got == tmp_path / "agent.yaml"
        assert yaml.safe_load(got.read_text())["mirrors"]["docker.io"]["endpoint"] == ["http://192.0.2.10:5001"]
        assert got.stat().st_mode & 0o077 == 0


def test_nodes_may_read_only_that_configmap() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for _path, o in join_rbac()}
    role = objs[("Role", MIRROR_ROLE)]
    assert role["metadata"]["namespace"] == "kube-public"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["tugboat-registries"], "verbs": ["get"]}]
    binding = objs[("RoleBinding", MIRROR_ROLE)]
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}]
