"""An OCI distribution API v2 client on aiohttp: authentication, retries, manifests, blobs.

One `RegistryClient` serves every pull and push of the node (one connection pool). Requests
go to one `Endpoint` (a mirror or the registry itself). Authentication follows the registry's
challenge: a 401 with `WWW-Authenticate: Basic` is answered with the configured credentials,
`Bearer realm=…,service=…,scope=…` by fetching a token from the realm (sending credentials
when we have them, OAuth2 refresh-token grant for identity tokens); tokens are cached per
endpoint and scope. 5xx answers and connection errors are retried a few times with a short
back-off before the caller moves on to the next endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tugboat.node.images.regconfig import Endpoint, RegistryConfig

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class RegistryError(Exception):
    """An HTTP-level failure talking to one endpoint. `status` 0 = connection error."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


Body = bytes | Path | None


class RegistryClient:
    def __init__(self, config: RegistryConfig | None = None, *, retries: int = 3,
                 backoff: float = 0.2, timeout: float = 300.0):
        self.config = config or RegistryConfig()
        self.retries = retries
        self.backoff = backoff
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self._session: aiohttp.ClientSession | None = None
        # (endpoint url, scope, credentials) → Authorization header value
        self._auth: dict[tuple[str, str, str], str] = {}

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- requests with authentication and retries ---------------------------------------
    async def request(self, ep: Endpoint, method: str, url: str, *, scope: str,
                      creds: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                      body: Body = None, ok: tuple[int, ...] = (200,)) -> aiohttp.ClientResponse:
        """Send one request (absolute `url` or a path under ep.url); answer 401 challenges;
        retry 5xx / connection errors. Returns a response with a status in `ok` (caller
        releases it); raises RegistryError otherwise."""
        if not url.startswith("http"):
            url = ep.url + url
        creds = creds if creds is not None else self.config.credentials(ep.host)
        ssl_ctx = self.config.ssl_context(ep.host)
        sess = await self.session()
        key = (ep.url, scope, repr(sorted((creds or {}).items())))
        authed = False
        attempt = 0
        while True:
            hdrs = dict(headers or {})
            if key in self._auth:
                hdrs["Authorization"] = self._auth[key]
            try:
                data: Any = body.open("rb") if isinstance(body, Path) else body
                try:
                    resp = await sess.request(method, url, headers=hdrs, data=data,
                                              ssl=ssl_ctx if ssl_ctx is not None else True)
                finally:
                    if isinstance(body, Path):
                        data.close()
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                attempt += 1
                if attempt >= self.retries:
                    raise RegistryError(f"{method} {url}: {e or type(e).__name__}") from e
                await asyncio.sleep(self.backoff * attempt)
                continue
            if resp.status in ok:
                return resp
            text = (await resp.read())[:2000].decode(errors="replace")
            resp.release()
            if resp.status == 401 and not authed:
                authed = True
                challenge = resp.headers.get("WWW-Authenticate", "")
                value = await self._authorize(ep, challenge, scope, creds, ssl_ctx)
                if value:
                    self._auth[key] = value
                    continue
            if resp.status >= 500 and attempt + 1 < self.retries:
                attempt += 1
                await asyncio.sleep(self.backoff * attempt)
                continue
            raise RegistryError(f"{method} {url}: {resp.status} {resp.reason}: {_error_message(text)}",
                                resp.status)

    async def _authorize(self, ep: Endpoint, challenge: str, scope: str,
                         creds: dict[str, str] | None, ssl_ctx: Any) -> str:
        scheme, params = parse_challenge(challenge)
        creds = creds or {}
        if scheme == "basic":
            return _basic(creds) if "username" in creds else ""
        if scheme != "bearer":
            return ""
        if creds.get("registry_token"):
            return "Bearer " + creds["registry_token"]
        realm = params.get("realm", "")
        if not realm:
            return ""
        sess = await self.session()
        service = params.get("service", "")
        scope = params.get("scope", scope)
        ssl_opt = ssl_ctx if ssl_ctx is not None else True
        if creds.get("identity_token"):
            form = {"grant_type": "refresh_token", "refresh_token": creds["identity_token"],
                    "service": service, "scope": scope, "client_id": "tugboat"}
            async with sess.post(realm, data=form, ssl=ssl_opt) as r:
                body = await r.json(content_type=None) if r.status == 200 else {}
        else:
            q = {k: v for k, v in (("service", service), ("scope", scope)) if v}
            hdrs = {"Authorization": _basic(creds)} if "username" in creds else {}
            async with sess.get(realm, params=q, headers=hdrs, ssl=ssl_opt) as r:
                if r.status != 200:
                    raise RegistryError(f"token from {realm}: {r.status} {r.reason}", 401)
                body = await r.json(content_type=None)
        token = body.get("token") or body.get("access_token") or ""
        return f"Bearer {token}" if token else ""

    # --- pull side ------------------------------------------------------------------------
    async def get_manifest(self, ep: Endpoint, repo: str, ref: str,
                           creds: dict[str, str] | None = None) -> tuple[bytes, str, str]:
        """Returns (body, media type, digest). A digest reference is verified."""
        resp = await self.request(ep, "GET", f"/v2/{repo}/manifests/{ref}", scope=f"repository:{repo}:pull",
                                  creds=creds, headers={"Accept": ", ".join(MANIFEST_TYPES)})
        try:
            body = await resp.read()
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
        finally:
            resp.release()
        digest = sha256_digest(body)
        if ref.startswith("sha256:") and digest != ref:
            raise DigestMismatch(f"manifest {ref}: content has digest {digest}")
        return body, ctype, digest

    async def fetch_blob(self, ep: Endpoint, repo: str, digest: str, dest: Path, *,
                         size: int = -1, creds: dict[str, str] | None = None) -> None:
        """Stream blob `digest` into `dest`, verifying size and sha256; a mismatch deletes
        the partial file and raises DigestMismatch."""
        if not digest.startswith("sha256:"):
            raise RegistryError(f"unsupported digest algorithm in {digest}")
        resp = await self.request(ep, "GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull",
                                  creds=creds)
        h = hashlib.sha256()
        n = 0
        try:
            with open(dest, "wb") as f:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    n += len(chunk)
                    if size >= 0 and n > size:
                        raise DigestMismatch(f"blob {digest}: more than the {size} bytes its descriptor says")
                    h.update(chunk)
                    f.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        finally:
            resp.release()
        got = "sha256:" + h.hexdigest()
        if got != digest or (size >= 0 and n != size):
            dest.unlink(missing_ok=True)
            raise DigestMismatch(f"blob {digest}: content has digest {got} ({n} bytes), refusing it")

    # --- push side ------------------------------------------------------------------------
    async def blob_exists(self, ep: Endpoint, repo: str, digest: str) -> bool:
        try:
            resp = await self.request(ep, "HEAD", f"/v2/{repo}/blobs/{digest}",
                                      scope=f"repository:{repo}:pull,push")
        except RegistryError as e:
            if e.status == 404:
                return False
            raise
        resp.release()
        return True

    async def upload_blob(self, ep: Endpoint, repo: str, digest: str, body: bytes | Path, *,
                          chunk_size: int = 0) -> None:
        """POST an upload session, then one PUT (monolithic) or PATCH chunks + a final PUT."""
        scope = f"repository:{repo}:pull,push"
        resp = await self.request(ep, "POST", f"/v2/{repo}/blobs/uploads/", scope=scope, ok=(202,))
        location = _absolute(str(resp.url), resp.headers["Location"])
        resp.release()
        octet = {"Content-Type": "application/octet-stream"}
        if chunk_size > 0:
            data = body.read_bytes() if isinstance(body, Path) else body
            for off in range(0, len(data), chunk_size):
                piece = data[off:off + chunk_size]
                hdrs = {**octet, "Content-Range": f"{off}-{off + len(piece) - 1}"}
                resp = await self.request(ep, "PATCH", location, scope=scope, headers=hdrs, body=piece,
                                          ok=(202,))
                location = _absolute(str(resp.url), resp.headers["Location"])
                resp.release()
            body = b""
        sep = "&" if "?" in location else "?"
        resp = await self.request(ep, "PUT", f"{location}{sep}digest={digest}", scope=scope,
                                  headers=octet, body=body, ok=(201,))
        resp.release()

    async def put_manifest(self, ep: Endpoint, repo: str, ref: str, body: bytes, media_type: str) -> str:
        resp = await self.request(ep, "PUT", f"/v2/{repo}/manifests/{ref}", scope=f"repository:{repo}:pull,push",
                                  headers={"Content-Type": media_type}, body=body, ok=(201,))
        resp.release()
        return sha256_digest(body)


class DigestMismatch(RegistryError):
    pass


def _basic(creds: dict[str, str]) -> str:
    raw = f"{creds['username']}:{creds.get('password', '')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _absolute(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


def _error_message(text: str) -> str:
    """The registry's JSON error body (`{"errors":[{"code","message"}]}`) as one line."""
    import orjson

    try:
        errs = orjson.loads(text).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errs) or text
    except Exception:
        return text.strip()[:300]


Fetcher = Callable[[Endpoint], Awaitable[Any]]


async def first_success(endpoints: list[Endpoint], fn: Fetcher) -> tuple[Endpoint, Any]:
    """Try `fn` on each endpoint in order; the first success wins. If all fail, raise the
    most telling error: an auth/other failure beats "not found" beats connection errors."""
    errors: list[RegistryError] = []
    for ep in endpoints:
        try:
            return ep, await fn(ep)
        except DigestMismatch:
            raise
        except RegistryError as e:
            errors.append(e)
    def rank(e: RegistryError) -> int:
        return 0 if e.status in (401, 403) else 1 if e.status not in (0, 404) and e.status < 500 else \
            2 if e.status == 404 else 3
    raise min(errors, key=rank) if errors else RegistryError("no endpoint")


__all__ = ["RegistryClient", "RegistryError", "DigestMismatch", "MANIFEST_TYPES", "first_success",
           "sha256_digest", "parse_challenge"]
