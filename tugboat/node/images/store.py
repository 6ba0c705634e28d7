"""The on-disk image store: content-addressed blobs, extracted layers and the image index.

    DATA_DIR/images/blobs/sha256/<hex>     manifests, indexes, configs, layer tarballs
    DATA_DIR/images/layers/<hex of diff-id>/   one extracted layer, shared by every image
    DATA_DIR/images/index.json             images (by config digest) and references → image
    DATA_DIR/images/tmp/                   partial downloads and extractions (cleared at start)

Everything that appears under blobs/ or layers/ appears whole (written under tmp/, verified,
then renamed), and index.json is replaced atomically, so a crash never leaves a half image
that looks complete. The index is small and kept in memory; only the agent process writes it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from tugboat.node.images.base import ImageConfig


class ImageStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.layers = self.root / "layers"
        self.tmp = self.root / "tmp"
        self.index_path = self.root / "index.json"
        for d in (self.blobs, self.layers):
            d.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.images: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, str] = {}
        if self.index_path.exists():
            data = orjson.loads(self.index_path.read_bytes())
            self.images, self.refs = data.get("images", {}), data.get("refs", {})

    # --- content ---------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def layer_path(self, diff_id: str) -> Path:
        return self.layers / diff_id.split(":", 1)[1]

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_path(diff_id).is_dir()

    def temp_path(self, hint: str) -> Path:
        return self.tmp / f"{hint.replace(':', '-')}.{os.getpid()}.{time.monotonic_ns()}"

    # --- index -----------------------------------------------------------------------------
    def save(self, durable: bool = True) -> None:
        tmp = self.index_path.with_suffix(".json.tmp")
        with open(tmp, "wb") as f:
            f.write(orjson.dumps({"images": self.images, "refs": self.refs}, option=orjson.OPT_INDENT_2))
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.index_path)

    def add(self, record: dict[str, Any], refs: list[str]) -> None:
        """Record an image (by its config digest) and point `refs` at it; a tag that pointed
        at another image moves (that image keeps its other references)."""
        iid = record["id"]
        old = self.images.get(iid)
        if old:
            record["repoTags"] = sorted(set(old["repoTags"]) | set(record["repoTags"]))
            record["repoDigests"] = sorted(set(old["repoDigests"]) | set(record["repoDigests"]))
            record["blobs"] = sorted(set(old["blobs"]) | set(record["blobs"]))
        for ref in refs:
            prev = self.refs.get(ref)
            if prev and prev != iid and prev in self.images:
                other = self.images[prev]
                other["repoTags"] = [t for t in other["repoTags"] if t != ref]
                other["repoDigests"] = [t for t in other["repoDigests"] if t != ref]
            self.refs[ref] = iid
        self.images[iid] = record
        self.save()

    def lookup(self, ref: str) -> dict[str, Any] | None:
        iid = self.refs.get(ref) or (ref if ref in self.images else None)
        return self.images.get(iid) if iid else None

    def touch(self, iid: str) -> None:
        if iid in self.images:
            self.images[iid]["lastUsed"] = time.time()
            self.save(durable=False)  # a lost last-used time only makes GC a little less exact

    def forget(self, iid: str) -> None:
        self.images.pop(iid, None)
        self.refs = {r: i for r, i in self.refs.items() if i != iid}
        self.save()

    def referenced(self) -> tuple[set[str], set[str]]:
        """(blob digests, layer diff-ids) that some recorded image needs."""
        blobs: set[str] = set()
        layers: set[str] = set()
        for rec in self.images.values():
            blobs.update(rec["blobs"])
            layers.update(rec["layers"])
        return blobs, layers

    def sweep(self, keep_layers: set[str] | frozenset[str] = frozenset()) -> int:
        """Delete blobs and layers no image references (nor `keep_layers`: used by containers
        whose image was removed); returns bytes freed."""
        blobs, layers = self.referenced()
        layers |= keep_layers
        keep_b = {d.split(":", 1)[1] for d in blobs}
        keep_l = {d.split(":", 1)[1] for d in layers}
        freed = 0
        for p in self.blobs.iterdir():
            if p.name not in keep_b:
                freed += p.stat().st_size
                p.unlink()
        for p in self.layers.iterdir():
            if p.name not in keep_l:
                freed += du(p)
                shutil.rmtree(p)
        return freed


def du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def to_config(rec: dict[str, Any], ref: str = "") -> ImageConfig:
    c = rec.get("config", {})
    return ImageConfig(
        id=rec["id"],
        ref=ref or (rec["repoTags"][0] if rec["repoTags"] else (rec["repoDigests"] or [rec["id"]])[0]),
        repo_digest=(rec["repoDigests"] or [""])[0],
        entrypoint=list(c.get("Entrypoint") or []),
        cmd=list(c.get("Cmd") or []),
        env=list(c.get("Env") or []),
        working_dir=c.get("WorkingDir") or "",
        user=c.get("User") or "",
        size=rec.get("size", 0),
    )
