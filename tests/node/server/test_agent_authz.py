"""The agent server asks the API server (TokenReview, SubjectAccessReview) who may do what.

A real in-process API server with Node,RBAC authorization and service-account tokens; a simulated
agent whose own client is the node identity `system:node:n1`; the agent's HTTPS server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestServer

from tests.node.helpers import get_pod, make_pod, until
from tests.support.wait import eventually
from tugboat.apiserver.certs import Pki
from tugboat.apiserver.context import Config as ServerConfig
from tugboat.apiserver.proxy import EXTRA_KEY, NodeProxy, kubelet_client_context
from tugboat.apiserver.request import UserInfo
from tugboat.apiserver.satoken import SigningKey, install
from tugboat.apiserver.server import ApiServer
from tugboat.client import Client, Config
from tugboat.client.clock import RealClock
from tugboat.node.agent import NodeAgent
from tugboat.node.runtime.simulated import SimulatedRuntime
from tugboat.node.server import AgentServer
from tugboat.node.server import channels as ch
from tugboat.node.server.auth import ensure_serving_cert, server_ssl_context
from tugboat.node.sources import POD
from tugboat.store.memory import MemoryBackend

NODE = "n1"
_KEY = SigningKey.generate()
USERS = {"admin-token": UserInfo("admin", ("system:masters", "system:authenticated")),
         "node-token": UserInfo(f"system:node:{NODE}", ("system:nodes", "system:authenticated"))}


@dataclass
class Env:
    admin: Client
    pki: Pki
    agent_url: str
    api_url: str

    def cert_ctx(self, cn: str, org: str | None = None) -> ssl.SSLContext:
        crt, key = self.pki.client_cert(cn.replace(":", "-"), cn, org)
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.load_cert_chain(str(crt), str(key))
        return ctx

    @staticmethod
    def token_ctx() -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    async def sa_token(self, name: str) -> str:
        await self.admin.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                                 body={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        out = await self.admin.request("POST", f"/api/v1/namespaces/default/serviceaccounts/{name}/token",
                                       body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                             "spec": {}})
        return str(out["status"]["token"])


@contextlib.asynccontextmanager
async def rbac_agent() -> AsyncIterator[Env]:
    with tempfile.TemporaryDirectory(prefix="tug-agentauthz-") as tmp:
        pki = Pki(Path(tmp))
        pki.ensure("127.0.0.1")
        backend = MemoryBackend()
        await backend.start()
        srv = ApiServer(backend, config=ServerConfig(bookmark_interval=1.0), tokens=dict(USERS),
                        authorization_mode="Node,RBAC")
        install(srv, key=_KEY)
        srv.ctx.extras[EXTRA_KEY] = NodeProxy(kubelet_client_context(pki))
        await srv.start(compact=False)
        ts = TestServer(srv.app(), host="127.0.0.1")
        await ts.start_server()
        url = f"http://127.0.0.1:{ts.port}"
        admin = Client(Config(server=url, token="admin-token"))
        node_client = Client(Config(server=url, token="node-token"))
        rt = SimulatedRuntime(RealClock(), node_name=NODE)
        agent = NodeAgent(node_client, rt, node_name=NODE, data_dir=f"{tmp}/agent", host_ip="127.0.0.1")
        crt, key = ensure_serving_cert(f"{tmp}/agent/pki", NODE, ["127.0.0.1"])
        aserver = AgentServer(agent, ssl_context=server_ssl_context(crt, key, client_ca_file=str(pki.ca_crt)),
                              host="127.0.0.1", port=0)
        agent.add_service(aserver)
        try:
            await agent.start()
            yield Env(admin, pki, f"https://127.0.0.1:{aserver.port}", url)
        finally:
            await agent.stop()
            await rt.close()
            await node_client.close()
            await admin.close()
            await ts.close()
            await srv.stop()
            await backend.close()


async def running_pod(env: Env, name: str) -> None:
    await env.admin.create(POD, make_pod(name, NODE), "default")

    async def running() -> bool:
        p = await get_pod(env.admin, name)
        return (p or {}).get("status", {}).get("phase") == "Running"
    await until(running, timeout=30, what=f"pod {name} running")


async def ws_exec(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[bytes, dict[str, Any]]:
    out, status = b"", {}
    async with session.ws_connect(url, protocols=(ch.V5,), **kw) as ws:
        async for msg in ws:
            if msg.data[0] == ch.STDOUT:
                out += msg.data[1:]
            elif msg.data[0] == ch.ERROR:
                status = orjson.loads(msg.data[1:])
    return out, status


def grant_nodes_proxy(sa: str) -> tuple[dict[str, Any], dict[str, Any]]:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "node-exec"},
            "rules": [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get", "create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": f"node-exec-{sa}"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-exec"},
               "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "default"}]}
    return role, binding


async def test_certificate_without_rbac_is_forbidden_and_anonymous_unauthorized() -> None:
    async with rbac_agent() as env, aiohttp.ClientSession() as s:
        alice = env.cert_ctx("alice", "devs")
        async with s.get(f"{env.agent_url}/containerLogs/default/p/app", ssl=alice) as r:
            assert r.status == 403
            assert (await r.json())["message"] == "Forbidden (user=alice, verb=get, resource=nodes, subresource=proxy)"
        async with s.get(f"{env.agent_url}/stats/summary", ssl=alice) as r:
            assert (await r.json())["message"] == "Forbidden (user=alice, verb=get, resource=nodes, subresource=stats)"
        async with s.post(f"{env.agent_url}/exec/default/p/app?command=ls", ssl=alice) as r:
            assert (await r.json())["message"] == ("Forbidden (user=alice, verb=create, resource=nodes, "
                                                   "subresource=proxy)")
        async with s.get(f"{env.agent_url}/healthz", ssl=env.token_ctx()) as r:
            assert r.status == 401
        async with s.get(f"{env.agent_url}/healthz", ssl=env.token_ctx(),
                         headers={"Authorization": "Bearer forged"}) as r:
            assert r.status == 401
        # system:masters may do anything (RBAC's cluster-admin binding), the agent agrees
        async with s.get(f"{env.agent_url}/healthz", ssl=env.cert_ctx("root", "system:masters")) as r:
            assert r.status == 200


async def test_service_account_with_nodes_proxy_can_exec_through_the_agent() -> None:
    async with rbac_agent() as env, aiohttp.ClientSession() as s:
        await running_pod(env, "ep")
        role, binding = grant_nodes_proxy("execer")
        await env.admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body=role)
        await env.admin.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body=binding)
        allowed, other = await env.sa_token("execer"), await env.sa_token("nobody")
        url = f"{env.agent_url}/exec/default/ep/app?command=echo&command=hi&stdout=true"

        async def exec_as(token: str) -> tuple[bytes, dict[str, Any]] | None:
            try:
                return await ws_exec(s, url, ssl=env.token_ctx(), headers={"Authorization": f"Bearer {token}"})
            except aiohttp.WSServerHandshakeError as e:
                assert e.status == 403
                return None
        out, st = await eventually(lambda: exec_as(allowed), 20, "exec allowed once RBAC has the binding")
        assert (out, st["status"]) == (b"hi\n", "Success")
        assert await exec_as(other) is None  # a valid token without the permission
        # logs: /containerLogs is nodes/proxy too (the kubelet's mapping), so the same grant reads them
        async with s.get(f"{env.agent_url}/containerLogs/default/ep/app", ssl=env.token_ctx(),
                         headers={"Authorization": f"Bearer {allowed}"}) as r:
            assert r.status == 200


async def test_api_server_proxy_is_allowed_through_kubeadm_binding() -> None:
    async with rbac_agent() as env:
        await running_pod(env, "lp")
        # pods/log and pods/exec reach the agent as kube-apiserver-kubelet-client → system:kubelet-api-admin
        assert await env.admin.request("GET", "/api/v1/namespaces/default/pods/lp/log", raw=True) == b""
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer admin-token"}) as s:
            out, st = await ws_exec(s, f"{env.api_url}/api/v1/namespaces/default/pods/lp/exec"
                                       "?command=echo&command=via-api&stdout=true")
        assert (out, st["status"]) == (b"via-api\n", "Success")
