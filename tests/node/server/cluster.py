"""A streaming test cluster: in-process API server with a NodeProxy, a simulated NodeAgent on
127.0.0.1 serving its HTTPS agent server (client certificates from a throwaway cluster CA)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.apiserver import running_apiserver
from tugboat.apiserver.certs import Pki
from tugboat.apiserver.proxy import EXTRA_KEY, NodeProxy, kubelet_client_context
from tugboat.client import Client
from tugboat.client.clock import RealClock
from tugboat.node.agent import NodeAgent
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.server import AgentServer
from tugboat.node.server.auth import ensure_serving_cert, server_ssl_context


@dataclass
class Cluster:
    server: Any
    client: Client
    agent: NodeAgent
    agent_server: AgentServer
    pki: Pki
    base_url: str


@contextlib.asynccontextmanager
async def streaming_cluster(node: str = "n1") -> AsyncIterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="tug-stream-") as tmp:
        pki = Pki(Path(tmp))
        pki.ensure("127.0.0.1")
        async with running_apiserver() as (srv, client):
            srv.ctx.extras[EXTRA_KEY] = NodeProxy(kubelet_client_context(pki))
            rt = SimulatedRuntime(RealClock(), node_name=node)
            agent = NodeAgent(client, rt, node_name=node, data_dir=f"{tmp}/agent", host_ip="127.0.0.1")
            crt, key = ensure_serving_cert(f"{tmp}/agent/pki", node, ["127.0.0.1"])
            aserver = AgentServer(agent, ssl_context=server_ssl_context(crt, key, client_ca_file=str(pki.ca_crt)),
                                  host="127.0.0.1", port=0)
            agent.add_service(aserver)
            await agent.start()
            try:
                yield Cluster(srv, client, agent, aserver, pki, str(client.config.server))
            finally:
                await agent.stop()
                await rt.close()
