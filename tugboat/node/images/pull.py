"""One image pull: resolve the reference over the configured endpoints, pick this node's
platform from an index, fetch the config and every missing layer, verify, extract, record.

Downloads and extractions are keyed by digest / diff-id with one lock each, so concurrent
pulls of images that share layers fetch every layer once. Layer tarballs are deleted after
extraction (the extracted, diff-id-verified layer is what containers use); manifests, indexes
and configs stay in the blob store.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from tugboat.node.images.base import PullError
from tugboat.node.images.client import DigestMismatch, RegistryClient, RegistryError, first_success
from tugboat.node.images.layers import LayerError, extract_layer
from tugboat.node.images.platform import Platform, select
from tugboat.node.images.reference import Reference
from tugboat.node.images.regconfig import Endpoint, normalise_credentials
from tugboat.node.images.store import ImageStore

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
IMAGE_TYPES = ("application/vnd.oci.image.manifest.v1+json",
               "application/vnd.docker.distribution.manifest.v2+json")


class Puller:
    def __init__(self, store: ImageStore, client: RegistryClient, platform: Platform):
        self.store = store
        self.client = client
        self.platform = platform
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def _creds(self, ep: Endpoint, auth: dict[str, str] | None) -> dict[str, str] | None:
        """imagePullSecret credentials are for the image's own registry; a mirror uses its
        configured ones (or the secret's when it has none)."""
        if auth and (not ep.mirror or not self.client.config.credentials(ep.host)):
            return normalise_credentials(auth)
        return None

    async def pull(self, ref: Reference, auth: dict[str, str] | None) -> dict[str, Any]:
        name = str(ref)
        eps = self.client.config.endpoints(ref.domain)
        try:
            async def get(obj: str, ep: Endpoint) -> tuple[bytes, str, str]:
                return await self.client.get_manifest(ep, ep.repository(ref.path), obj, self._creds(ep, auth))

            ep, (body, ctype, top) = await first_success(eps, lambda e: get(ref.object, e))
            eps = [ep] + [e for e in eps if e is not ep]  # keep talking to the one that answered
            self._save_blob(top, body)
            blobs = [top]
            manifest, mdigest = _json(body), top
            mtype = manifest.get("mediaType") or ctype
            if mtype in INDEX_TYPES or "manifests" in manifest:
                desc = select(manifest.get("manifests") or [], self.platform)
                if desc is None:
                    have = ", ".join(_plat(d) for d in manifest.get("manifests") or [])
                    raise PullError(f'failed to pull and unpack image "{name}": no match for platform '
                                    f"{self.platform} in manifest {top} (it has: {have or 'none'})")
                mdigest = desc["digest"]
                ep, (body, ctype, _) = await first_success(eps, lambda e: get(mdigest, e))
                self._save_blob(mdigest, body)
                blobs.append(mdigest)
                manifest = _json(body)
                mtype = manifest.get("mediaType") or ctype
            if mtype not in IMAGE_TYPES and "config" not in manifest:
                raise PullError(f'failed to pull and unpack image "{name}": unsupported manifest type {mtype!r}')
            cdesc = manifest["config"]
            cfg_digest = cdesc["digest"]
            await self._fetch_blob(eps, ref, auth, cfg_digest, cdesc.get("size", -1))
            blobs.append(cfg_digest)
            config = _json(self.store.blob_path(cfg_digest).read_bytes())
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            layers = manifest.get("layers") or []
            if len(diff_ids) != len(layers):
                raise PullError(f'failed to pull and unpack image "{name}": manifest has {len(layers)} '
                                f"layers, config has {len(diff_ids)} diff-ids")
            await asyncio.gather(*(self._ensure_layer(eps, ref, auth, d, i) for d, i in zip(layers, diff_ids, strict=True)))
        except DigestMismatch as e:
            raise PullError(f'failed to pull and unpack image "{name}": {e}') from e
        except RegistryError as e:
            raise PullError(_explain(name, e)) from e
        except LayerError as e:
            raise PullError(f'failed to pull and unpack image "{name}": failed to extract layer: {e}') from e
        now = time.time()
        repo_digest = f"{ref.repository}@{top}"
        cfg = config.get("config") or {}
        return {
            "id": cfg_digest, "manifest": mdigest, "target": top,
            "repoTags": [f"{ref.repository}:{ref.tag}"] if ref.tag and not ref.digest else [],
            "repoDigests": [repo_digest], "blobs": blobs, "layers": diff_ids,
            "config": {k: cfg.get(k) for k in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User") if cfg.get(k)},
            "size": sum(int(d.get("size", 0)) for d in layers) + int(cdesc.get("size", 0)),
            "lastUsed": now, "pulledAt": now,
        }

    def _save_blob(self, digest: str, body: bytes) -> None:
        path = self.store.blob_path(digest)
        if not path.exists():
            tmp = self.store.temp_path(digest)
            tmp.write_bytes(body)
            os.replace(tmp, path)

    async def _fetch_blob(self, eps: list[Endpoint], ref: Reference, auth: dict[str, str] | None,
                          digest: str, size: int, keep_as: Path | None = None) -> Path:
        path = keep_as or self.store.blob_path(digest)
        async with self._locks["blob:" + digest]:
            if path.exists():
                return path
            tmp = self.store.temp_path(digest)

            async def fetch(ep: Endpoint) -> None:
                await self.client.fetch_blob(ep, ep.repository(ref.path), digest, tmp, size=size,
                                             creds=self._creds(ep, auth))

            await first_success(eps, fetch)
            os.replace(tmp, path)
        self._locks.pop("blob:" + digest, None)
        return path

    async def _ensure_layer(self, eps: list[Endpoint], ref: Reference, auth: dict[str, str] | None,
                            desc: dict[str, Any], diff_id: str) -> None:
        async with self._locks["layer:" + diff_id]:
            if self.store.has_layer(diff_id):
                return
            tarball = self.store.temp_path(desc["digest"] + ".tar")
            try:
                await self._fetch_blob(eps, ref, auth, desc["digest"], int(desc.get("size", -1)), keep_as=tarball)
                dest = self.store.temp_path(diff_id)
                try:
                    await asyncio.to_thread(extract_layer, tarball, dest, diff_id)
                    os.rename(dest, self.store.layer_path(diff_id))
                except BaseException:
                    await asyncio.to_thread(_rmtree, dest)
                    raise
            finally:
                tarball.unlink(missing_ok=True)
        self._locks.pop("layer:" + diff_id, None)


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def _json(body: bytes) -> dict[str, Any]:
    try:
        v = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RegistryError(f"malformed JSON document: {e}") from e
    if not isinstance(v, dict):
        raise RegistryError("malformed JSON document: not an object")
    return v


def _plat(d: dict[str, Any]) -> str:
    p = d.get("platform") or {}
    return "/".join(x for x in (p.get("os", ""), p.get("architecture", ""), p.get("variant", "")) if x)


def _explain(name: str, e: RegistryError) -> str:
    """containerd's wording, which is what users search for."""
    prefix = f'failed to pull and unpack image "{name}": failed to resolve reference "{name}"'
    if e.status == 404:
        return f"{prefix}: {name}: not found"
    if e.status in (401, 403):
        return (f"{prefix}: pull access denied, repository does not exist or may require "
                f"authorization: {e}")
    return f"{prefix}: {e}"
