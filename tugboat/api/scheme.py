"""The scheme: which resources exist, how they are named, scoped and stored.

A `ResourceType` is one (group, version, resource) as discovery shows it. Several versions of
one resource (autoscaling/v1 and v2 HorizontalPodAutoscaler; core/v1 and events.k8s.io/v1
Event) share one storage location, named by `storage` and held in the `storage_version`
form; `api.convert` translates between them. CRDs add and remove types at run time, which
is why `Scheme` is a mutable registry rather than a constant table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_WRITE_SUB = ("get", "patch", "update")


@dataclass(frozen=True, slots=True)
class Subresource:
    name: str
    kind: str  # response kind, e.g. "Scale"
    group: str = ""  # response kind's group ("autoscaling" for scale)
    version: str = "v1"
    verbs: tuple[str, ...] = READ_WRITE_SUB


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Where objects live: (group, resource) of the storage location, and the version they
    # are stored in. Empty means "this type itself".
    storage_group: str | None = None
    storage_resource: str | None = None
    storage_version: str | None = None
    custom: bool = False  # defined by a CRD

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def store_group(self) -> str:
        return self.group if self.storage_group is None else self.storage_group

    @property
    def store_resource(self) -> str:
        return self.storage_resource or self.plural

    @property
    def store_version(self) -> str:
        return self.storage_version or self.version

    @property
    def key_prefix(self) -> str:
        """Store key prefix for all objects of this resource, ending in '/'."""
        return f"/registry/{self.store_group or 'core'}/{self.store_resource}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.key_prefix}{namespace}/{name}"
        return f"{self.key_prefix}{name}"

    def namespace_prefix(self, namespace: str | None) -> str:
        """Prefix of one namespace's objects (or of all objects when namespace is None)."""
        if self.namespaced and namespace:
            return f"{self.key_prefix}{namespace}/"
        return self.key_prefix

    def subresource(self, name: str) -> Subresource | None:
        for s in self.subresources:
            if s.name == name:
                return s
        return None

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None


def _sub_status(kind: str, group: str = "", version: str = "v1") -> Subresource:
    return Subresource("status", kind, group, version)


SCALE = Subresource("scale", "Scale", "autoscaling", "v1")


def _builtin() -> list[ResourceType]:
    R = ResourceType
    st = _sub_status
    pod_subs = (
        Subresource("attach", "PodAttachOptions", verbs=("create", "get")),
        Subresource("binding", "Binding", verbs=("create",)),
        Subresource("ephemeralcontainers", "Pod", verbs=READ_WRITE_SUB),
        Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",)),
        Subresource("exec", "PodExecOptions", verbs=("create", "get")),
        Subresource("log", "Pod", verbs=("get",)),
        Subresource("portforward", "PodPortForwardOptions", verbs=("create", "get")),
        Subresource("proxy", "PodProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
        st("Pod"),
    )
    all_ = ("all",)
    types = [
        # core/v1
        R("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
          subresources=(Subresource("finalize", "Namespace", verbs=("update",)), st("Namespace")),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
        R("", "v1", "Pod", "pods", "pod", True, ("po",), all_, pod_subs),
        R("", "v1", "Service", "services", "service", True, ("svc",), all_,
          (Subresource("proxy", "ServiceProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
           st("Service")),
          verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
        R("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
        R("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
        R("", "v1", "Secret", "secrets", "secret", True),
        R("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",),
          subresources=(Subresource("token", "TokenRequest", "authentication.k8s.io", "v1", ("create",)),)),
        R("", "v1", "Node", "nodes", "node", False, ("no",),
          subresources=(Subresource("proxy", "NodeProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
                        st("Node"))),
        R("", "v1", "Event", "events", "event", True, ("ev",)),
        R("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",),
          subresources=(st("PersistentVolume"),)),
        R("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True, ("pvc",),
          subresources=(st("PersistentVolumeClaim"),)),
        R("", "v1", "LimitRange", "limitranges", "limitrange", True, ("limits",)),
        R("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", True, ("quota",),
          subresources=(st("ResourceQuota"),)),
        R("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", True, ("rc",), all_,
          (SCALE, st("ReplicationController"))),
        R("", "v1", "PodTemplate", "podtemplates", "podtemplate", True),
        R("", "v1", "Binding", "bindings", "binding", True, verbs=("create",)),
        # apps/v1
        R("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), all_,
          (SCALE, st("Deployment", "apps"))),
        R("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), all_,
          (SCALE, st("ReplicaSet", "apps"))),
        R("apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, ("sts",), all_,
          (SCALE, st("StatefulSet", "apps"))),
        R("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",), all_,
          (st("DaemonSet", "apps"),)),
        R("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True),
        # batch/v1
        R("batch", "v1", "Job", "jobs", "job", True, (), all_, (st("Job", "batch"),)),
        R("batch", "v1", "CronJob", "cronjobs", "cronjob", True, ("cj",), all_, (st("CronJob", "batch"),)),
        # autoscaling: v2 is preferred and is the storage form; v1 is converted.
        R("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
          True, ("hpa",), all_, (st("HorizontalPodAutoscaler", "autoscaling", "v2"),)),
        R("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
          True, ("hpa",), all_, (st("HorizontalPodAutoscaler", "autoscaling"),), storage_version="v2"),
        # policy/v1
        R("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", True, ("pdb",),
          subresources=(st("PodDisruptionBudget", "policy"),)),
        # coordination.k8s.io/v1
        R("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
        # discovery.k8s.io/v1
        R("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True),
        # events.k8s.io/v1 shares storage with core/v1 events (stored in the core form).
        R("events.k8s.io", "v1", "Event", "events", "event", True, ("ev",),
          storage_group="", storage_resource="events", storage_version="v1"),
        # networking.k8s.io/v1
        R("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, ("ing",),
          subresources=(st("Ingress", "networking.k8s.io"),)),
        R("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False),
        R("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", True, ("netpol",)),
        # rbac.authorization.k8s.io/v1
        R("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True),
        R("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False),
        R("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True),
        R("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False),
        # storage.k8s.io/v1
        R("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",)),
        # scheduling.k8s.io/v1
        R("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", False, ("pc",)),
        # admissionregistration.k8s.io/v1: webhooks and CEL policies (apiserver/admission_webhooks, admission_vap)
        R("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
          "mutatingwebhookconfiguration", False, categories=("api-extensions",)),
        R("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
          "validatingwebhookconfiguration", False, categories=("api-extensions",)),
        R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
          "validatingadmissionpolicy", False, categories=("api-extensions",),
          subresources=(st("ValidatingAdmissionPolicy", "admissionregistration.k8s.io"),)),
        R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
          "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", False,
          categories=("api-extensions",)),
        # apiextensions.k8s.io/v1
        R("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
          "customresourcedefinition", False, ("crd", "crds"), ("api-extensions",),
          (st("CustomResourceDefinition", "apiextensions.k8s.io"),)),
        # certificates.k8s.io/v1 (node join: bootstrap CSRs, `kubectl certificate approve`)
        R("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
          "certificatesigningrequest", False, ("csr",),
          subresources=(Subresource("approval", "CertificateSigningRequest", "certificates.k8s.io", "v1"),
                        st("CertificateSigningRequest", "certificates.k8s.io"))),
        # authentication.k8s.io/v1: create-only reviews (whoami)
        R("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", False,
          verbs=("create",)),
        R("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", False, verbs=("create",)),
        # authorization.k8s.io/v1: create-only access reviews (kubectl auth can-i)
        R("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
          "selfsubjectaccessreview", False, verbs=("create",)),
        R("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
          "selfsubjectrulesreview", False, verbs=("create",)),
        R("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview",
          False, verbs=("create",)),
        R("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
          "localsubjectaccessreview", True, verbs=("create",)),
        # metrics.k8s.io/v1beta1 (`kubectl top`): computed from the node agents' stats by
        # apiserver/metrics.py, never stored
        R("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "", False, verbs=("get", "list")),
        R("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "", True, verbs=("get", "list")),
    ]
    return types


# Preferred order of groups in discovery (upstream's priority order, roughly).
GROUP_ORDER = [
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io", "metrics.k8s.io",
]

# Version preference within a group (first = preferred).
_VERSION_ORDER = ["v2", "v1", "v2beta2", "v2beta1", "v1beta2", "v1beta1", "v1alpha1"]


def version_priority(v: str) -> int:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return -1_000_000
    major = int(m.group(1))
    stage = {"": 2, "beta": 1, "alpha": 0}[m.group(2) or ""]
    minor = int(m.group(3) or 0)
    return stage * 1_000_000 + major * 1000 + minor


@dataclass
class Scheme:
    """Mutable registry of resource types, safe to read while CRDs are being added."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0  # bumps on every change, so discovery/openapi caches can key on it

    def add(self, rt: ResourceType) -> None:
        with self._lock:
            types = dict(self._types)
            types[(rt.group, rt.version, rt.plural)] = rt
            self._types = types
            self.generation += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        with self._lock:
            types = dict(self._types)
            types.pop((group, version, plural), None)
            self._types = types
            self.generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for rt in self._types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        out = [rt for rt in self._types.values() if rt.group == group and rt.plural == plural]
        out.sort(key=lambda rt: -version_priority(rt.version))
        return out

    def groups(self) -> dict[str, list[str]]:
        """group → versions, preferred first; groups in discovery order."""
        gv: dict[str, set[str]] = {}
        for rt in self._types.values():
            gv.setdefault(rt.group, set()).add(rt.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        groups = sorted(gv, key=lambda g: (order.get(g, len(order)), g))
        return {g: sorted(gv[g], key=lambda v: -version_priority(v)) for g in groups}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted((rt for rt in self._types.values() if rt.group == group and rt.version == version),
                      key=lambda rt: rt.plural)

    def storage_types(self) -> Iterable[ResourceType]:
        """One type per storage location (the one whose version is the storage version)."""
        for rt in self._types.values():
            if rt.storage_version in (None, rt.version) and rt.storage_group is None:
                yield rt


def default_scheme() -> Scheme:
    s = Scheme()
    for rt in _builtin():
        s.add(rt)
    return s
