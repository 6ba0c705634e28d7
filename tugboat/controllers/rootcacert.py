"""Root CA publisher: every namespace gets the ConfigMap `kube-root-ca.crt` holding the CA that
signed the API server's serving certificate.

Why: the ServiceAccount admission mounts that ConfigMap into every pod (`ca.crt` next to the
token), which is how in-cluster clients verify the API server. Upstream 1.32
pkg/controller/certificates/rootcacertpublisher: the data and the description annotation are
restored if someone edits or deletes the ConfigMap; terminating namespaces are skipped.
The CA comes from this controller's options: `root_ca` (PEM) or `root_ca_file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tugboat.client import copy_obj, deleted_object, is_already_exists, is_not_found
from tugboat.client.errors import ApiStatusError
from tugboat.controllers.base import BaseController, ControllerContext, register

Obj = dict[str, Any]
CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


@register
class RootCACertPublisher(BaseController):
    name = "root-ca-certificate-publisher-controller"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.cm_rt = ctx.rt("", "v1", "configmaps")
        opts = ctx.options.get(self.name, {})
        ca = opts.get("root_ca") or ""
        if not ca and opts.get("root_ca_file"):
            try:
                ca = Path(opts["root_ca_file"]).read_text()
            except OSError:
                ca = ""
        self.root_ca: str = ca

    def setup(self) -> None:
        self.namespaces = self.ctx.informers.informer(self.ctx.rt("", "v1", "namespaces"))
        self.configmaps = self.ctx.informers.informer(self.cm_rt)
        self.namespaces.add_event_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.configmaps.add_event_handler(on_update=lambda _o, n: self._cm_changed(n), on_delete=self._cm_changed)

    def _cm_changed(self, obj: Any) -> None:
        cm = deleted_object(obj)
        if cm["metadata"].get("name") == CONFIGMAP:
            self.enqueue_key(cm["metadata"]["namespace"])

    async def reconcile(self, key: str) -> float | None:
        if not self.root_ca:
            return None
        ns = self.namespaces.lister.get(key)
        if ns is None or ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        data = {"ca.crt": self.root_ca}
        cm = self.configmaps.lister.get(CONFIGMAP, key)
        if cm is None:
            try:
                await self.client.create(self.cm_rt, {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": CONFIGMAP, "namespace": key,
                                 "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data}, key)
            except ApiStatusError as e:  # gone or terminating namespace: nothing to publish into
                if not (is_already_exists(e) or is_not_found(e) or e.code == 403):
                    raise
            return None
        annotations = cm["metadata"].get("annotations") or {}
        if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return None
        new = copy_obj(cm)
        new["data"] = data
        new["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
        await self.client.update(self.cm_rt, new, key)
        return None
