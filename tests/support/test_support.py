from tugboat.api.scheme import default_scheme

from .apiserver import running_apiserver


async def test_running_apiserver_serves_the_client() -> None:
    cms = default_scheme().get("", "v1", "configmaps")
    assert cms is not None
    async with running_apiserver() as (_srv, client):
        created = await client.create(cms, {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "x", "namespace": "default"}})
        got = await client.get(cms, "x", "default")
        assert got["metadata"]["uid"] == created["metadata"]["uid"]
