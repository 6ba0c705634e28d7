"""`tug agent --simulate N` registers N nodes through a kubeconfig and stops cleanly."""

from __future__ import annotations

import asyncio

from tests.node.helpers import until
from tests.support.apiserver import running_apiserver
from tugboat.cli.agent import add_agent_parser, parse_kv, parse_taints, run_simulated
from tugboat.node.nodestatus import NODE


def test_parse_options():
    assert parse_kv("cpu=8,memory=32Gi,nvidia.com/gpu=1") == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert parse_taints("gpu=true:NoSchedule,dedicated:NoExecute") == [
        {"key": "gpu", "value": "true", "effect": "NoSchedule"}, {"key": "dedicated", "effect": "NoExecute"}]


async def test_simulate_registers_nodes_with_capacity_and_labels(tmp_path):
    import argparse
    async with running_apiserver() as (_srv, client):
        kc = tmp_path / "kubeconfig.yaml"
        kc.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{client.config.server}"}}}}]
users: [{{name: u, user: {{}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
        p = argparse.ArgumentParser()
        add_agent_parser(p.add_subparsers(dest="cmd"))
        args = p.parse_args(["agent", "--simulate", "3", "--kubeconfig", str(kc), "--node-prefix", "hollow-",
                             "--capacity", "cpu=4,nvidia.com/gpu=2", "--labels", "tier=sim",
                             "--data-dir", str(tmp_path / "d")])
        stop = asyncio.Event()
        task = asyncio.create_task(run_simulated(args, stop))

        async def registered():
            items = (await client.list(NODE))["items"]
            return items if len(items) == 3 else None
        try:
            nodes = await until(registered, what="3 nodes")
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0
        assert sorted(n["metadata"]["name"] for n in nodes) == ["hollow-0", "hollow-1", "hollow-2"]
        assert all(n["status"]["capacity"]["nvidia.com/gpu"] == "2" and n["status"]["capacity"]["cpu"] == "4"
                   and n["metadata"]["labels"]["tier"] == "sim" for n in nodes)
