"""A client per controller, authenticated as its own service account (upstream's
`--use-service-account-credentials`, SAControllerClientBuilder).

Why: with one shared identity every controller holds the union of all their permissions. Here
the manager, with its own certificate, makes sure kube-system/<sa> exists and asks for a token
with the TokenRequest API (1 h, like upstream); the controller's client sends that token and is
renewed at 80 % of its life, so each controller is confined to its `system:controller:<sa>` role.
The manager's identity may mint tokens only for these service accounts (RBAC: a kube-system Role
with resourceNames). Shared informers keep using the manager's own client (list/watch on
everything), as upstream's shared informer factory does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from tugboat.client import ApiStatusError, Client
from tugboat.client.clock import RealClock

log = logging.getLogger(__name__)
NAMESPACE = "kube-system"
EXPIRATION_SECONDS = 3600
RENEW_AT = 0.8

# controller (as registered) → service account, as upstream's controller manager names them
SERVICE_ACCOUNTS = {
    "cronjob": "cronjob-controller",
    "csrapproving": "certificate-controller",
    "csrsigning": "certificate-controller",
    "daemonset": "daemon-set-controller",
    "deployment": "deployment-controller",
    "disruption-controller": "disruption-controller",
    "endpoints-controller": "endpoint-controller",
    "endpointslice-controller": "endpointslice-controller",
    "ephemeral-volume": "ephemeral-volume-controller",
    "garbagecollector": "generic-garbage-collector",
    "horizontal-pod-autoscaler-controller": "horizontal-pod-autoscaler",
    "job": "job-controller",
    "namespace-controller": "namespace-controller",
    "node-ipam-controller": "node-controller",
    "node-lifecycle-controller": "node-controller",
    "taint-eviction-controller": "node-controller",  # upstream: "uses existing cluster role from node-controller"
    "persistentvolume-binder": "persistent-volume-binder",
    "pod-garbage-collector": "pod-garbage-collector",
    "pv-protection": "pv-protection-controller",
    "pvc-protection": "pvc-protection-controller",
    "replicaset": "replicaset-controller",
    "replicationcontroller": "replication-controller",
    "resourcequota-controller": "resourcequota-controller",
    "root-ca-certificate-publisher-controller": "root-ca-cert-publisher",
    "serviceaccount-controller": "service-account-controller",
    "statefulset": "statefulset-controller",
    "ttl-after-finished": "ttl-after-finished-controller",
}


class ServiceAccountClients:
    """Clients authenticated as kube-system service accounts, tokens kept fresh in the background."""

    def __init__(self, root: Client, *, namespace: str = NAMESPACE, expiration: int = EXPIRATION_SECONDS,
                 clock: Any = None, qps: float = 20.0, burst: int = 30):
        self.root = root
        self.namespace = namespace
        self.expiration = expiration
        self.clock = clock or RealClock()
        self.qps, self.burst = qps, burst  # upstream's per-controller client defaults
        self.clients: dict[str, Client] = {}
        self._expiry: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._renewer: asyncio.Task[None] | None = None

    async def client_for(self, sa: str) -> Client:
        async with self._lock:
            if sa not in self.clients:
                token = await self._token(sa)
                cfg = dataclasses.replace(self.root.config, cert_data=None, cert_file=None, key_data=None,
                                          key_file=None, token=token, token_file=None, _token_cache=None)
                self.clients[sa] = Client(cfg, component=f"kube-controller-manager/{sa}", qps=self.qps,
                                          burst=self.burst)
            if self._renewer is None:
                self._renewer = asyncio.create_task(self._renew_loop(), name="sa-token-renewer")
            return self.clients[sa]

    async def _ensure_service_account(self, sa: str) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts"
        try:
            await self.root.request("GET", f"{path}/{sa}")
            return
        except ApiStatusError as e:
            if e.code != 404:
                raise
        try:
            await self.root.request("POST", path, body={"apiVersion": "v1", "kind": "ServiceAccount",
                                                        "metadata": {"name": sa, "namespace": self.namespace}})
        except ApiStatusError as e:
            if e.code != 409:
                raise

    async def _token(self, sa: str) -> str:
        await self._ensure_service_account(sa)
        out = await self.root.request(
            "POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{sa}/token",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": self.expiration}})
        self._expiry[sa] = self.clock.time() + float((out.get("spec") or {}).get("expirationSeconds")
                                                      or self.expiration)
        return str(out["status"]["token"])

    async def renew_due(self) -> list[str]:
        """Renew every token past 80 % of its life; the names renewed."""
        renewed = []
        for sa, client in list(self.clients.items()):
            left = self._expiry.get(sa, 0.0) - self.clock.time()
            if left <= self.expiration * (1 - RENEW_AT):
                try:
                    client.config.token = await self._token(sa)
                    renewed.append(sa)
                except Exception as e:  # noqa: BLE001 - retried on the next round
                    log.warning("renewing the token of %s/%s: %s", self.namespace, sa, e)
        return renewed

    async def _renew_loop(self) -> None:
        step = max(1.0, self.expiration * 0.05)
        while True:
            await self.clock.sleep(step)
            await self.renew_due()

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        for c in self.clients.values():
            await c.close()
        self.clients.clear()
