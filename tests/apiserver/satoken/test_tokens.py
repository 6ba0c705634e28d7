"""TokenRequest → a JWT that authenticates as the service account until it expires or its
service account / bound pod is gone; TokenReview and `whoami` report the same identity."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tugboat.apiserver.satoken.keys import b64url_decode

from .conftest import ADMIN_TOKEN, Sat

SA = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "default"}}


def pod(name: str = "p1", sa: str = "robot") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "busybox"}]}}


def claims(token: str) -> dict[str, Any]:
    return orjson.loads(b64url_decode(token.split(".")[1]))  # type: ignore[no-any-return]


async def whoami(sat: Sat, token: str) -> tuple[int, dict[str, Any]]:
    async with sat.as_token(token) as c:
        r = await c.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        return r.status_code, r.json()


async def test_token_authenticates_as_the_service_account(sat: Sat) -> None:
    sa = await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    r = await sat.admin.post("/api/v1/namespaces/default/serviceaccounts/robot/token", json={})
    assert r.status_code == 201
    tr = r.json()
    assert tr["kind"] == "TokenRequest" and tr["spec"]["expirationSeconds"] == 3600
    assert tr["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    c = claims(tr["status"]["token"])
    assert c["sub"] == "system:serviceaccount:default:robot" and c["exp"] - c["iat"] == 3600
    assert c["kubernetes.io"]["serviceaccount"] == {"name": "robot", "uid": sa["metadata"]["uid"]}
    code, body = await whoami(sat, tr["status"]["token"])
    assert code == 201
    info = body["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert info["uid"] == sa["metadata"]["uid"]


async def test_expiry_minimum_and_expired_token(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    r = await sat.admin.post("/api/v1/namespaces/default/serviceaccounts/robot/token",
                             json={"spec": {"expirationSeconds": 599}})
    assert r.status_code == 422
    assert "may not specify a duration less than 10 minutes" in r.json()["message"]
    token = await sat.token("default", "robot", {"expirationSeconds": 600})
    assert (await whoami(sat, token))[0] == 201
    sat.clock.advance(601)
    code, body = await whoami(sat, token)
    assert code == 401 and body["reason"] == "Unauthorized"


async def test_max_expiration_caps_the_request(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    sat.issuer.max_expiration = 7200
    r = await sat.admin.post("/api/v1/namespaces/default/serviceaccounts/robot/token",
                             json={"spec": {"expirationSeconds": 86400}})
    assert r.json()["spec"]["expirationSeconds"] == 7200
    c = claims(r.json()["status"]["token"])
    assert c["exp"] - c["iat"] == 7200


async def test_deleting_the_service_account_invalidates(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    token = await sat.token("default", "robot")
    assert (await whoami(sat, token))[0] == 201
    assert (await sat.admin.delete("/api/v1/namespaces/default/serviceaccounts/robot")).status_code == 200
    assert (await whoami(sat, token))[0] == 401
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)  # same name, new uid
    assert (await whoami(sat, token))[0] == 401


async def test_pod_bound_token(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    p = await sat.create("/api/v1/namespaces/default/pods", pod())
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p1"}
    token = await sat.token("default", "robot", {"boundObjectRef": ref})
    assert claims(token)["kubernetes.io"]["pod"] == {"name": "p1", "uid": p["metadata"]["uid"]}
    code, body = await whoami(sat, token)
    assert code == 201
    extra = body["status"]["userInfo"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["p1"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [p["metadata"]["uid"]]
    assert extra["authentication.kubernetes.io/credential-id"] == [f"JTI={claims(token)['jti']}"]
    await sat.admin.delete("/api/v1/namespaces/default/pods/p1", params={"gracePeriodSeconds": "0"})
    assert (await whoami(sat, token))[0] == 401


async def test_bound_object_errors(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    await sat.create("/api/v1/namespaces/default/pods", pod("other", sa="default"))
    base = "/api/v1/namespaces/default/serviceaccounts/robot/token"
    r = await sat.admin.post(base, json={"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "nope"}}})
    assert r.status_code == 404
    r = await sat.admin.post(base, json={"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "other"}}})
    assert r.status_code == 400 and 'to pod running with serviceaccount "default"' in r.json()["message"]
    r = await sat.admin.post(base, json={"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}})
    assert r.status_code == 400 and "cannot bind token to object of type" in r.json()["message"]
    r = await sat.admin.post("/api/v1/namespaces/default/serviceaccounts/missing/token", json={})
    assert r.status_code == 404


async def test_secret_bound_token_and_uid_mismatch(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    s = await sat.create("/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                                 "metadata": {"name": "s"}})
    base = "/api/v1/namespaces/default/serviceaccounts/robot/token"
    ref = {"kind": "Secret", "apiVersion": "v1", "name": "s", "uid": "not-the-uid"}
    r = await sat.admin.post(base, json={"spec": {"boundObjectRef": ref}})
    assert r.status_code == 409
    ref["uid"] = s["metadata"]["uid"]
    token = await sat.token("default", "robot", {"boundObjectRef": ref})
    assert (await whoami(sat, token))[0] == 201
    await sat.admin.delete("/api/v1/namespaces/default/secrets/s")
    assert (await whoami(sat, token))[0] == 401


async def test_wrong_audience_and_forged_token(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    token = await sat.token("default", "robot", {"audiences": ["vault"]})
    assert (await whoami(sat, token))[0] == 401
    good = await sat.token("default", "robot")
    h, p, s = good.split(".")
    forged_claims = claims(good)
    forged_claims["sub"] = "system:serviceaccount:kube-system:admin"
    from tugboat.apiserver.satoken.keys import b64url
    forged = f"{h}.{b64url(orjson.dumps(forged_claims))}.{s}"
    assert (await whoami(sat, forged))[0] == 401


async def test_token_review(sat: Sat) -> None:
    await sat.create("/api/v1/namespaces/default/serviceaccounts", SA)
    token = await sat.token("default", "robot", {"audiences": ["vault"]})
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    r = await sat.admin.post(path, json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                         "spec": {"token": token, "audiences": ["vault"]}})
    assert r.status_code == 201
    st = r.json()["status"]
    assert st["authenticated"] is True and st["audiences"] == ["vault"]
    assert st["user"]["username"] == "system:serviceaccount:default:robot"
    r = await sat.admin.post(path, json={"spec": {"token": token}})  # default audience does not match
    st = r.json()["status"]
    assert "authenticated" not in st and "is invalid for the target audiences" in st["error"]
    r = await sat.admin.post(path, json={"spec": {"token": "garbage"}})
    assert r.json()["status"]["error"].startswith("[invalid bearer token")
    r = await sat.admin.post(path, json={"spec": {"token": ADMIN_TOKEN}})  # a static token: whole chain
    assert r.json()["status"]["user"]["username"] == "admin"


async def test_discovery_documents(sat: Sat) -> None:
    r = await sat.admin.get("/.well-known/openid-configuration")
    doc = r.json()
    assert doc["issuer"] == "https://kubernetes.default.svc.cluster.local"
    assert doc["jwks_uri"].endswith("/openid/v1/jwks") and doc["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = (await sat.admin.get("/openid/v1/jwks")).json()
    assert jwks["keys"][0]["kid"] == sat.issuer.key.kid and jwks["keys"][0]["alg"] == "RS256"
    async with httpx.AsyncClient(base_url=sat.url) as anon:
        assert (await anon.get("/openid/v1/jwks")).status_code == 401
