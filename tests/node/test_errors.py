"""Image pull errors back off (ErrImagePull → ImagePullBackOff); missing config is a clear reason."""

from __future__ import annotations

from tests.node.helpers import advance, cstatus, get_pod, make_pod, sim_agent, until
from tugboat.node.sources import POD

SIM = "sim.tugboat.dev/"


async def _waiting(client, name, reason):
    p = await get_pod(client, name)
    w = cstatus(p).get("state", {}).get("waiting", {})
    return p if w.get("reason") == reason else None


async def test_pull_error_then_image_pull_backoff(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        await client.create(POD, make_pod("nopull", annotations={SIM + "pull-error": "manifest unknown"}), "default")
        p = await until(lambda: _waiting(client, "nopull", "ErrImagePull"), what="ErrImagePull")
        assert cstatus(p)["state"]["waiting"]["message"] == 'Failed to pull image "busybox:1.36": manifest unknown'
        assert p["status"]["phase"] == "Pending"
        await advance(clock, 5, agents=[agent])
        await until(lambda: _waiting(client, "nopull", "ImagePullBackOff"), what="ImagePullBackOff")
        await agent.recorder.flush()
        from tugboat.client.events import EVENT
        evs = [(e["reason"], e["message"]) for e in (await client.list(EVENT, "default"))["items"]]
        assert ("Pulling", 'Pulling image "busybox:1.36"') in evs
        assert ("Failed", "Error: ErrImagePull") in evs
        assert ("BackOff", 'Back-off pulling image "busybox:1.36"') in evs


async def test_missing_configmap_is_create_container_config_error_until_created(tmp_path):
    async with sim_agent(tmp_path) as (agent, client, clock):
        c = {"name": "app", "image": "busybox", "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "x"}}}]}
        await client.create(POD, make_pod("cfg", containers=[c]), "default")
        p = await until(lambda: _waiting(client, "cfg", "CreateContainerConfigError"), what="config error")
        assert cstatus(p)["state"]["waiting"]["message"] == 'configmap "settings" not found'
        from tugboat.node.agent import _KINDS
        await client.create(_KINDS["ConfigMap"], {"metadata": {"name": "settings"}, "data": {"x": "1"}}, "default")
        await advance(clock, 10, agents=[agent])

        async def running():
            q = await get_pod(client, "cfg")
            return q if (q or {}).get("status", {}).get("phase") == "Running" else None
        await until(running, what="Running once the ConfigMap exists")
