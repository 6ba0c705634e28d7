"""ImageLocality: prefer nodes that already have the pod's images, weighted by how widely the
image is spread (so one node holding a big image does not attract every pod).

Scores only when some node reports one of the pod's images (status.images), which the cache
tracks as image -> node count; otherwise it is skipped.
"""

from __future__ import annotations

from tugboat.scheduler.framework import MAX_NODE_SCORE, CycleState, Plugin
from tugboat.scheduler.nodeinfo import NodeInfo, normalize_image
from tugboat.scheduler.podinfo import PodInfo
from tugboat.scheduler.status import SKIP, Status

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


class ImageLocality(Plugin):
    name = "ImageLocality"

    def pre_score(self, state: CycleState, pi: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        counts = self.handle.cache.image_nodes
        imgs = [normalize_image(i) for i in pi.images]
        if not any(i in counts for i in imgs):
            return SKIP
        state["images"] = (imgs, len(self.handle.cache.node_list()) or 1)
        return None

    def score(self, state: CycleState, pi: PodInfo, ni: NodeInfo) -> int:
        imgs, total = state["images"]
        counts = self.handle.cache.image_nodes
        s = 0
        for img in imgs:
            size = ni.images.get(img)
            if size is not None:
                s += int(size * (counts.get(img, 0) / total))
        top = MAX_CONTAINER_THRESHOLD * len(imgs)
        s = min(max(s, MIN_THRESHOLD), top)
        return MAX_NODE_SCORE * (s - MIN_THRESHOLD) // (top - MIN_THRESHOLD) if top > MIN_THRESHOLD else 0
