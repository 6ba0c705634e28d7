"""ServiceAccount admission: the default account, the missing-account refusal, and the
kube-api-access projected volume mounted in every container unless automount is off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.apiserver import running_apiserver
from tests.support.wait import rt
from tugboat.apiserver.admission_serviceaccount import MOUNT_PATH, ServiceAccountAdmission
from tugboat.client import ApiStatusError, Client

PODS, SAS = rt("", "v1", "pods"), rt("", "v1", "serviceaccounts")


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with running_apiserver() as (srv, c):
        srv.ctx.registry.admit_hooks.append(ServiceAccountAdmission(srv.ctx.registry, retry_interval=0.001))
        yield c


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}],
                     "initContainers": [{"name": "i", "image": "busybox"}], **spec}}


async def sa(c: Client, name: str, **extra: Any) -> None:
    await c.create(SAS, {"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": name, "namespace": "default"}, **extra})


async def test_default_account_and_api_access_volume(client: Client) -> None:
    await sa(client, "default")
    p = await client.create(PODS, pod("p"))
    spec = p["spec"]
    assert spec["serviceAccountName"] == "default" and spec["serviceAccount"] == "default"
    [vol] = spec["volumes"]
    assert vol["name"].startswith("kube-api-access-") and len(vol["name"]) == len("kube-api-access-") + 5
    assert vol["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    for c in spec["containers"] + spec["initContainers"]:
        assert {"name": vol["name"], "readOnly": True, "mountPath": MOUNT_PATH} in c["volumeMounts"]


async def test_missing_service_account_is_refused(client: Client) -> None:
    with pytest.raises(ApiStatusError) as e:
        await client.create(PODS, pod("p", serviceAccountName="ghost"))
    assert e.value.code == 403
    assert 'error looking up service account default/ghost: serviceaccount "ghost" not found' in str(e.value)
    with pytest.raises(ApiStatusError) as e:
        await client.create(PODS, pod("q"))  # no default account yet
    assert e.value.code == 403


async def test_automount_switches(client: Client) -> None:
    await sa(client, "quiet", automountServiceAccountToken=False)
    await sa(client, "loud")
    p = await client.create(PODS, pod("a", serviceAccountName="quiet"))
    assert not p["spec"].get("volumes")
    p = await client.create(PODS, pod("b", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert p["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    p = await client.create(PODS, pod("c", serviceAccountName="loud", automountServiceAccountToken=False))
    assert not p["spec"].get("volumes")


async def test_existing_mount_at_the_token_path_is_kept(client: Client) -> None:
    await sa(client, "default")
    body = pod("p")
    body["spec"]["volumes"] = [{"name": "mine", "emptyDir": {}}]
    for c in body["spec"]["containers"] + body["spec"]["initContainers"]:
        c["volumeMounts"] = [{"name": "mine", "mountPath": MOUNT_PATH}]
    p = await client.create(PODS, body)
    assert [v["name"] for v in p["spec"]["volumes"]] == ["mine"]


async def test_mirror_pod_may_not_name_a_service_account(client: Client) -> None:
    body = pod("m", serviceAccountName="x")
    body["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    with pytest.raises(ApiStatusError) as e:
        await client.create(PODS, body)
    assert e.value.code == 403 and "a mirror pod may not reference service accounts" in str(e.value)
