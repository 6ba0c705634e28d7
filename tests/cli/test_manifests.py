"""Auto-deploy (DATA_DIR/server/manifests): files are applied, changes re-applied, objects that
leave a file or whose file is deleted are deleted — also across a server restart — and a broken
file never deletes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.cli.manifests import (
    DNS_ADDON,
    FIELD_MANAGER,
    SOURCE_ANNOTATION,
    AutoDeploy,
    load_objects,
    prepare_addons,
    write_dns_addon,
)
from tugboat.client import is_not_found

CM = rt("", "v1", "configmaps")
NS = rt("", "v1", "namespaces")
SVC = rt("", "v1", "services")
SLICE = rt("discovery.k8s.io", "v1", "endpointslices")

APP = """apiVersion: v1
kind: ConfigMap
metadata: {name: app, namespace: team}
data: {color: blue}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: extra}
data: {a: "1"}
"""


async def exists(client, rtype, name: str, ns: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    try:
        await client.get(rtype, name, ns)
        return True
    except Exception as e:
        if is_not_found(e):
            return False
        raise


def test_load_objects_flattens_lists_and_orders_namespaces_first() -> None:
    objs = load_objects(APP + "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, "
                        "metadata: {name: s}}\n")
    assert [o["kind"] for o in objs] == ["Namespace", "ConfigMap", "ConfigMap", "Secret"]
    with pytest.raises(ValueError, match="metadata.name"):
        load_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    with pytest.raises(ValueError, match="not an object"):
        load_objects("- just\n- a list\n")


async def test_apply_change_and_delete(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    (mdir / "app.yaml").write_text(APP)
    (mdir / "notes.txt").write_text("not a manifest")
    async with running_apiserver() as (_srv, client):
        deploy = AutoDeploy(client, mdir, state)
        assert await deploy.sync()
        cm = await client.get(CM, "app", "team")
        assert cm["data"] == {"color": "blue"}
        assert cm["metadata"]["annotations"][SOURCE_ANNOTATION] == "app.yaml"
        assert [f["manager"] for f in cm["metadata"]["managedFields"]] == [FIELD_MANAGER]
        assert await exists(client, CM, "extra", "default")  # no namespace: default, as kubectl apply

        # the file changes: its new content is applied, the object it no longer has is deleted
        (mdir / "app.yaml").write_text(APP.replace("blue", "green").split("---\napiVersion: v1\nkind: ConfigMap\n"
                                                                          "metadata: {name: extra}")[0])
        assert await deploy.sync()
        assert (await client.get(CM, "app", "team"))["data"] == {"color": "green"}
        assert not await exists(client, CM, "extra", "default")  # left the file: deleted

        (mdir / "app.yaml").unlink()
        assert await deploy.sync()
        assert not await exists(client, CM, "app", "team")
        assert state.read_text() == "{}"


async def test_files_removed_while_down_are_cleaned_up_at_start(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    (mdir / "app.yaml").write_text(APP)
    async with running_apiserver() as (_srv, client):
        assert await AutoDeploy(client, mdir, state).sync()
        (mdir / "app.yaml").unlink()  # the server is "down": nobody sees this
        restarted = AutoDeploy(client, mdir, state)
        assert await restarted.sync()
        assert not await exists(client, CM, "app", "team")
        assert not await exists(client, CM, "extra", "default")


async def test_a_broken_file_keeps_its_objects_and_is_retried(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    (mdir / "app.yaml").write_text(APP)
    async with running_apiserver() as (_srv, client):
        deploy = AutoDeploy(client, mdir, state)
        assert await deploy.sync()
        (mdir / "app.yaml").write_text(APP + "---\n{not: [valid\n")
        assert not await deploy.sync()
        assert "app.yaml" in capsys.readouterr().out
        assert await exists(client, CM, "app", "team") and await exists(client, CM, "extra", "default")
        (mdir / "app.yaml").write_text(APP)
        assert await deploy.sync() and not deploy.errors


async def test_skip_file_disables_a_manifest(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    (mdir / "app.yaml").write_text(APP)
    (mdir / "app.yaml.skip").write_text("")
    async with running_apiserver() as (_srv, client):
        assert await AutoDeploy(client, mdir, state).sync()
        assert not await exists(client, NS, "team")


async def test_dns_addon_is_an_ordinary_manifest(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    prepare_addons(mdir, "10.96.0.10", set())
    assert (mdir / DNS_ADDON).exists()
    async with running_apiserver() as (_srv, client):
        deploy = AutoDeploy(client, mdir, state)
        assert await deploy.sync()
        svc = await client.get(SVC, "kube-dns", "kube-system")
        assert svc["spec"]["clusterIP"] == "10.96.0.10"
        assert not await exists(client, SLICE, "kube-dns", "kube-system")
        assert write_dns_addon(mdir, "10.96.0.10", gateway="10.244.0.1", node_name="n1")
        assert not write_dns_addon(mdir, "10.96.0.10", gateway="10.244.0.1", node_name="n1")  # unchanged
        assert await deploy.sync()
        eps = await client.get(SLICE, "kube-dns", "kube-system")
        assert eps["endpoints"][0]["addresses"] == ["10.244.0.1"]
        prepare_addons(mdir, "10.96.0.10", {"dns"})  # --disable dns: the add-on goes away
        assert await deploy.sync()
        assert not await exists(client, SVC, "kube-dns", "kube-system")
        assert not await exists(client, SLICE, "kube-dns", "kube-system")


async def test_version_change_and_shared_objects_are_not_deleted(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    hpa = ("apiVersion: autoscaling/{v}\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n"
           "  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  minReplicas: 1\n"
           "  maxReplicas: 3\n")
    (mdir / "hpa.yaml").write_text(hpa.format(v="v1"))
    (mdir / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n")
    (mdir / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {b: '1'}\n")
    hpas = rt("autoscaling", "v2", "horizontalpodautoscalers")
    async with running_apiserver() as (_srv, client):
        deploy = AutoDeploy(client, mdir, state)
        assert await deploy.sync()
        (mdir / "hpa.yaml").write_text(hpa.format(v="v2"))  # the same object under another version
        (mdir / "a.yaml").unlink()  # b.yaml still defines the ConfigMap
        assert await deploy.sync()
        assert await exists(client, hpas, "web", "default")
        assert await exists(client, CM, "shared", "default")


async def test_objects_applied_before_a_failure_are_deleted_with_the_file(tmp_path: Path) -> None:
    mdir, state = tmp_path / "manifests", tmp_path / "state.json"
    mdir.mkdir()
    (mdir / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n"
                                   "apiVersion: example.com/v1\nkind: Nope\nmetadata: {name: x}\n")
    async with running_apiserver() as (_srv, client):
        deploy = AutoDeploy(client, mdir, state)
        assert not await deploy.sync()  # the unknown kind fails; the ConfigMap before it was applied
        assert await exists(client, CM, "first", "default")
        (mdir / "app.yaml").unlink()
        assert await deploy.sync()
        assert not await exists(client, CM, "first", "default")
