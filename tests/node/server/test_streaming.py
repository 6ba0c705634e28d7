"""pods/log and pods/exec|attach through the in-process API server to a simulated agent's
HTTPS server — the whole path a client uses, over real TLS with client certificates."""

from __future__ import annotations

import os
import ssl
import time

import aiohttp
import orjson
import pytest

from tests.node.helpers import get_pod, make_pod, until
from tests.node.server.cluster import Cluster, streaming_cluster
from tugboat.node.logs import parse_time_ns
from tugboat.node.server import channels as ch
from tugboat.node.sources import POD

NODE = "n1"


def rfc(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


async def running_pod(c: Cluster, name: str, **kw: object) -> dict:  # type: ignore[type-arg]
    await c.client.create(POD, make_pod(name, NODE, **kw), "default")  # type: ignore[arg-type]

    async def is_running() -> dict | None:  # type: ignore[type-arg]
        p = await get_pod(c.client, name)
        return p if p and (p.get("status") or {}).get("phase") == "Running" else None
    return await until(is_running, what=f"pod {name} running")  # type: ignore[no-any-return]


def append_log(c: Cluster, pod: dict, lines: list[tuple[str, str]], container: str = "app",  # type: ignore[type-arg]
               attempt: int = 0) -> None:
    path = os.path.join(c.agent.log_dir(pod), container, f"{attempt}.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        for stream, text in lines:
            f.write(f"{rfc(time.time_ns())} {stream} F {text}\n")


async def ws_exec(c: Cluster, query: str, *, stdin: list[bytes] = (), protocol: str = ch.V5,  # type: ignore[assignment]
                  sub: str = "exec") -> tuple[bytes, bytes, dict]:  # type: ignore[type-arg]
    url = f"{c.base_url}/api/v1/namespaces/default/pods/{query.split('?')[0]}/{sub}?{query.split('?')[1]}"
    out, err, status = b"", b"", {}
    async with aiohttp.ClientSession() as s, s.ws_connect(url, protocols=(protocol,)) as ws:
        assert ws.protocol == protocol
        for data in stdin:
            await ws.send_bytes(b"\x00" + data)
        if stdin:
            await ws.send_bytes(b"\xff\x00")
        async for msg in ws:
            chan, payload = msg.data[0], msg.data[1:]
            if chan == ch.STDOUT:
                out += payload
            elif chan == ch.STDERR:
                err += payload
            elif chan == ch.ERROR:
                status = orjson.loads(payload)
    return out, err, status


async def test_logs_through_the_api_server() -> None:
    async with streaming_cluster(NODE) as c:
        node = await c.client.request("GET", f"/api/v1/nodes/{NODE}")
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == c.agent_server.port
        pod = await running_pod(c, "lp")
        append_log(c, pod, [("stdout", "hello"), ("stderr", "oops"), ("stdout", "bye")])
        base = f"{c.base_url}/api/v1/namespaces/default/pods/lp/log"
        async with aiohttp.ClientSession() as s:
            async with s.get(base) as r:
                assert r.status == 200 and r.content_type == "text/plain"
                assert await r.read() == b"hello\noops\nbye\n"
            async with s.get(base, params={"tailLines": "1", "timestamps": "true", "container": "app"}) as r:
                ts, _, text = (await r.read()).partition(b" ")
                assert text == b"bye\n" and parse_time_ns(ts.decode()) > 0
            async with s.get(base, params={"limitBytes": "3"}) as r:
                assert await r.read() == b"hel"
            async with s.get(base, params={"container": "nope"}) as r:
                assert r.status == 400
                assert (await r.json())["message"] == "container nope is not valid for pod lp"
            async with s.get(base, params={"previous": "true"}) as r:
                assert r.status == 400
                assert (await r.json())["message"] == 'previous terminated container "app" in pod "lp" not found'
            async with s.get(base.replace("/lp/", "/missing/")) as r:
                assert r.status == 404


async def test_logs_follow_streams_until_the_container_exits() -> None:
    async with streaming_cluster(NODE) as c:
        pod = await running_pod(c, "fp")
        append_log(c, pod, [("stdout", "one")])
        url = f"{c.base_url}/api/v1/namespaces/default/pods/fp/log?follow=true"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            assert await r.content.readline() == b"one\n"
            append_log(c, pod, [("stdout", "two")])
            assert await r.content.readline() == b"two\n"
            # the container exits: the stream ends (kubectl logs -f returns)
            cid = next(x.id for x in await c.agent.runtime.list_containers())
            await c.agent.runtime.stop_container(cid, 0)
            assert await r.content.read() == b""


async def test_exec_output_exit_code_and_stdin() -> None:
    async with streaming_cluster(NODE) as c:
        await running_pod(c, "ep")
        out, err, st = await ws_exec(c, "ep?command=echo&command=hello&stdout=true&stderr=true")
        assert (out, err, st) == (b"hello\n", b"", {"metadata": {}, "status": "Success"})
        out, err, st = await ws_exec(c, "ep?command=sh&command=-c&command=echo+out%3B+echo+err+>%262%3B+exit+2"
                                        "&stdout=true&stderr=true")
        assert (out, err) == (b"out\n", b"err\n")
        assert st["reason"] == "NonZeroExitCode" and st["details"]["causes"][0]["message"] == "2"
        out, _, st = await ws_exec(c, "ep?command=cat&stdin=true&stdout=true&stderr=true",
                                   stdin=[b"hello-", b"stdin\n"])
        assert out == b"hello-stdin\n" and st["status"] == "Success"
        # the Python client's subprotocol and text stdin frames
        out, _, st = await ws_exec(c, "ep?command=echo&command=v4&stdout=true", protocol=ch.V4)
        assert out == b"v4\n" and st["status"] == "Success"


async def test_exec_is_validated_before_any_upgrade() -> None:
    async with streaming_cluster(NODE) as c:
        await running_pod(c, "vp", annotations={"sim.tugboat.dev/exit-after": "0.2s"}, restartPolicy="Never")
        base = f"{c.base_url}/api/v1/namespaces/default/pods"
        async with aiohttp.ClientSession() as s:
            for path, code, message in (
                    ("vp/exec?command=ls&container=nope", 400, "container nope is not valid for pod vp"),
                    ("vp/exec?stdout=true", 400, "you must specify at least 1 command"),
                    ("nothere/exec?command=ls", 404, 'pods "nothere" not found')):
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await s.ws_connect(f"{base}/{path}", protocols=(ch.V5,))
                assert e.value.status == code, path
                async with s.get(f"{base}/{path}", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                            "Sec-WebSocket-Version": "13",
                                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as r:
                    assert (await r.json())["message"] == message

            async def done() -> bool:
                p = await get_pod(c.client, "vp")
                return (p or {}).get("status", {}).get("phase") == "Succeeded"
            await until(done, what="pod completed")
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(f"{base}/vp/exec?command=ls", protocols=(ch.V5,))
            assert e.value.status == 400
            async with s.get(f"{base}/vp/log") as r:  # a completed pod's logs still work
                assert r.status == 200


async def test_agent_server_refuses_anonymous_callers() -> None:
    # RBAC decisions (403 for a certificate without nodes/proxy) are in test_agent_authz.py
    async with streaming_cluster(NODE) as c:
        url = f"https://127.0.0.1:{c.agent_server.port}/healthz"
        anon = ssl.create_default_context()
        anon.check_hostname, anon.verify_mode = False, ssl.CERT_NONE
        async with aiohttp.ClientSession() as s:
            async with s.get(url, ssl=anon) as r:  # neither a client certificate nor a token
                assert r.status == 401
            async with s.get(url, ssl=anon, headers={"Authorization": "Bearer not-a-token"}) as r:
                assert r.status == 401
            async with s.get(url, ssl=c.server.ctx.extras["node_proxy"].ssl_context) as r:
                assert r.status == 200
