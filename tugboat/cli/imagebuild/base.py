"""FROM: the base image of a build, fetched from a registry (the local one for Docker Hub names).

`FROM scratch` starts empty. Any other name is looked up the way `tug image push` places
images: a Docker Hub name (`busybox`, `library/busybox:1`) in the local registry, other names
in their own registry (k3s registries.yaml mirrors and credentials apply). An index is
resolved to the host platform. Layers are downloaded as they are (their blobs are reused
unchanged in the built image); they are only extracted if a RUN needs a root filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tugboat.node.images.client import RegistryClient
from tugboat.node.images.platform import host_platform
from tugboat.node.images.push import Blob
from tugboat.node.images.reference import parse

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass
class BaseImage:
    config: dict[str, Any] = field(default_factory=dict)  # the whole image config document
    layers: list[Blob] = field(default_factory=list)


def _pick_platform(index: dict[str, Any]) -> str:
    p = host_platform()
    for d in index.get("manifests") or []:
        plat = d.get("platform") or {}
        if plat.get("os") == p.os and plat.get("architecture") == p.architecture:
            return str(d["digest"])
    raise ValueError(f"no {p.os}/{p.architecture} image in the index")


async def fetch_base(client: RegistryClient, image: str, workdir: Path) -> BaseImage:
    """Download `image` (already mapped to its registry) into `workdir`."""
    if image == "scratch":
        return BaseImage()
    ref = parse(image)
    eps = client.config.endpoints(ref.domain)
    last: Exception | None = None
    for ep in eps:
        repo = ep.repository(ref.path)
        try:
            body, ctype, _ = await client.get_manifest(ep, repo, ref.object)
            doc = orjson.loads(body)
            if ctype in INDEX_TYPES or doc.get("manifests"):
                body, ctype, _ = await client.get_manifest(ep, repo, _pick_platform(doc))
                doc = orjson.loads(body)
            cfg_path = workdir / "base-config.json"
            await client.fetch_blob(ep, repo, doc["config"]["digest"], cfg_path, size=doc["config"].get("size", -1))
            config = orjson.loads(cfg_path.read_bytes())
            diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
            layers = []
            for i, d in enumerate(doc.get("layers") or []):
                path = workdir / f"base-{i}.layer"
                await client.fetch_blob(ep, repo, d["digest"], path, size=d.get("size", -1))
                layers.append(Blob(path, d["digest"], d["size"], d["mediaType"],
                                   diff_ids[i] if i < len(diff_ids) else ""))
            return BaseImage(config, layers)
        except Exception as e:  # noqa: BLE001 - try the next endpoint, report the last failure
            last = e
    raise ValueError(f"FROM {image}: {last}")
