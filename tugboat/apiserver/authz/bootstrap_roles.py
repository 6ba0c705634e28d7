"""Upstream's default ClusterRoles and ClusterRoleBindings (bootstrappolicy, Kubernetes 1.32).

Rules are copied as facts from upstream's policy (testdata/cluster-roles.yaml). Every object
carries `kubernetes.io/bootstrapping: rbac-defaults` and the
`rbac.authorization.kubernetes.io/autoupdate: "true"` annotation; reconcile.py re-applies them
at every start unless a user set that annotation to "false" (upstream's rbac/bootstrap-roles).

Tugboat additions (no upstream equivalent, named `system:tugboat:*`): the controllers run as
their own service accounts with upstream's `system:controller:*` roles
(bootstrap_controller_roles.py); the union of what they do, `system:tugboat:controller-manager`,
is bound only to the group of the opt-out credential (`--use-service-account-credentials=false`),
and the manager's identity may mint tokens only for the controllers' service accounts (so
upstream's unrestricted `create serviceaccounts/token` is left out of its role); the scheduler, the proxy's ServiceLB
and the agents' local-path half get the few extra permissions Tugboat's versions need, and the
cluster DNS identity `system:tug-dns` is bound to kubeadm's CoreDNS role `system:coredns`.
Joining nodes get kubeadm's TLS-bootstrap bindings (`kubeadm:kubelet-bootstrap`, ...), and
metrics-server's `system:aggregated-metrics-reader` lets view/edit/admin run `kubectl top`.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
RW = "create delete deletecollection patch update"
RO = "get list watch"


def r(verbs: str, groups: str, resources: str, names: str = "") -> Obj:
    """A rule from space-separated words; `core` stands for the "" API group."""
    rule: Obj = {"verbs": verbs.split(), "apiGroups": ["" if g == "core" else g for g in groups.split()],
                 "resources": resources.split()}
    if names:
        rule["resourceNames"] = names.split()
    return rule


def urls(verbs: str, paths: str) -> Obj:
    return {"verbs": verbs.split(), "nonResourceURLs": paths.split()}


EVENTS = r("create patch update", "core events.k8s.io", "events")

NODE_RULES = [
    r("create", "authentication.k8s.io", "tokenreviews"),
    r("create", "authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews"),
    r(RO, "core", "services"),
    r("create get list watch", "core", "nodes"),
    r("patch update", "core", "nodes/status"),
    r("patch update", "core", "nodes"),
    r("create patch update", "core", "events"),
    r(RO, "core", "pods"),
    r("create delete", "core", "pods"),
    r("patch update", "core", "pods/status"),
    r("create", "core", "pods/eviction"),
    r(RO, "core", "configmaps secrets"),
    r("get", "core", "persistentvolumeclaims persistentvolumes"),
    r("get", "core", "endpoints"),
    r("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
    r("create delete get patch update", "coordination.k8s.io", "leases"),
    r("get", "storage.k8s.io", "volumeattachments"),
    r("create", "core", "serviceaccounts/token"),
    r("get patch update", "core", "persistentvolumeclaims/status"),
    r(RO, "storage.k8s.io", "csidrivers"),
    r("create delete get patch update", "storage.k8s.io", "csinodes"),
    r(RO, "node.k8s.io", "runtimeclasses"),
]

_VIEW = [
    r(RO, "core", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
      "replicationcontrollers replicationcontrollers/scale serviceaccounts services services/status"),
    r(RO, "core", "bindings events limitranges namespaces/status pods/log pods/status "
      "replicationcontrollers/status resourcequotas resourcequotas/status"),
    r(RO, "core", "namespaces"),
    r(RO, "discovery.k8s.io", "endpointslices"),
    r(RO, "apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
      "deployments/status replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale "
      "statefulsets/status"),
    r(RO, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
    r(RO, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    r(RO, "extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status ingresses "
      "ingresses/status networkpolicies replicasets replicasets/scale replicasets/status "
      "replicationcontrollers/scale"),
    r(RO, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
    r(RO, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
]

_EDIT = [
    r(RO, "core", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
    r("impersonate", "core", "serviceaccounts"),
    r(RW, "core", "pods pods/attach pods/exec pods/portforward pods/proxy"),
    r("create", "core", "pods/eviction"),
    r(RW, "core", "configmaps events persistentvolumeclaims replicationcontrollers replicationcontrollers/scale "
      "secrets serviceaccounts services services/proxy"),
    r("create", "core", "serviceaccounts/token"),
    r(RW, "apps", "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale "
      "statefulsets statefulsets/scale"),
    r(RW, "autoscaling", "horizontalpodautoscalers"),
    r(RW, "batch", "cronjobs jobs"),
    r(RW, "extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses networkpolicies "
      "replicasets replicasets/scale replicationcontrollers/scale"),
    r(RW, "policy", "poddisruptionbudgets"),
    r(RW, "networking.k8s.io", "ingresses networkpolicies"),
    r("create delete deletecollection get list patch update watch", "coordination.k8s.io", "leases"),
]

_ADMIN = [
    r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    r("create delete deletecollection get list patch update watch", RBAC, "rolebindings roles"),
]

_LEADER = [r("create", "coordination.k8s.io", "leases")]

# Role name → (rules, extra labels, aggregated label or None)
_ROLES: list[tuple[str, list[Obj], dict[str, str], str | None]] = [
    ("cluster-admin", [r("*", "*", "*"), urls("*", "*")], {}, None),
    ("admin", [], {}, "rbac.authorization.k8s.io/aggregate-to-admin"),
    ("edit", [], {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, "rbac.authorization.k8s.io/aggregate-to-edit"),
    ("view", [], {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, "rbac.authorization.k8s.io/aggregate-to-view"),
    ("system:aggregate-to-admin", _ADMIN, {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}, None),
    ("system:aggregate-to-edit", _EDIT, {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}, None),
    ("system:aggregate-to-view", _VIEW, {"rbac.authorization.k8s.io/aggregate-to-view": "true"}, None),
    ("system:auth-delegator", [r("create", "authentication.k8s.io", "tokenreviews"),
                               r("create", "authorization.k8s.io", "subjectaccessreviews")], {}, None),
    ("system:basic-user", [r("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
                           r("create", "authentication.k8s.io", "selfsubjectreviews")], {}, None),
    ("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
     [r("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient")], {}, None),
    ("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
     [r("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")], {}, None),
    ("system:certificates.k8s.io:kube-apiserver-client-approver",
     [r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client")], {}, None),
    ("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
     [r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet")], {}, None),
    ("system:certificates.k8s.io:kubelet-serving-approver",
     [r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kubelet-serving")], {}, None),
    ("system:certificates.k8s.io:legacy-unknown-approver",
     [r("approve", "certificates.k8s.io", "signers", "kubernetes.io/legacy-unknown")], {}, None),
    ("system:discovery", [urls("get", "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz "
                                      "/version /version/")], {}, None),
    ("system:heapster", [r(RO, "core", "events namespaces nodes pods"), r(RO, "extensions", "deployments")], {}, None),
    ("system:kube-aggregator", [r(RO, "core", "endpoints services")], {}, None),
    ("system:kube-controller-manager", [
        EVENTS, *_LEADER, r("get update", "coordination.k8s.io", "leases", "kube-controller-manager"),
        r("create", "core", "secrets serviceaccounts"), r("delete", "core", "secrets"),
        r("get", "core", "configmaps namespaces secrets serviceaccounts"), r("update", "core", "secrets serviceaccounts"),
        r("create", "authentication.k8s.io", "tokenreviews"), r("create", "authorization.k8s.io", "subjectaccessreviews"),
        r("list watch", "*", "*")], {}, None),  # serviceaccounts/token: bootstrap_controller_roles.py
    ("system:kube-dns", [r("list watch", "core", "endpoints services")], {}, None),
    ("system:kube-scheduler", [
        EVENTS, *_LEADER, r("get update", "coordination.k8s.io", "leases", "kube-scheduler"),
        r(RO, "core", "nodes"), r("delete get list watch", "core", "pods"),
        r("create", "core", "bindings pods/binding"), r("patch update", "core", "pods/status"),
        r(RO, "core", "replicationcontrollers services"), r(RO, "apps extensions", "replicasets"),
        r(RO, "apps", "statefulsets"), r(RO, "policy", "poddisruptionbudgets"),
        r(RO, "core", "persistentvolumeclaims persistentvolumes"),
        r("create", "authentication.k8s.io", "tokenreviews"), r("create", "authorization.k8s.io", "subjectaccessreviews"),
        r(RO, "storage.k8s.io", "csinodes"), r(RO, "core", "namespaces"), r(RO, "storage.k8s.io", "csidrivers"),
        r(RO, "storage.k8s.io", "csistoragecapacities")], {}, None),
    ("system:kubelet-api-admin", [r(RO, "core", "nodes"), r("proxy", "core", "nodes"),
                                  r("*", "core", "nodes/log nodes/metrics nodes/proxy nodes/stats")], {}, None),
    ("system:monitoring", [urls("get", "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz "
                                       "/readyz/*")], {}, None),
    ("system:node", NODE_RULES, {}, None),
    ("system:node-bootstrapper", [r("create get list watch", "certificates.k8s.io", "certificatesigningrequests")],
     {}, None),
    ("system:node-problem-detector", [r("get", "core", "nodes"), r("patch", "core", "nodes/status"), EVENTS], {}, None),
    ("system:node-proxier", [r("list watch", "core", "endpoints services"), r(RO, "core", "nodes"), EVENTS,
                             r("list watch", "discovery.k8s.io", "endpointslices")], {}, None),
    ("system:persistent-volume-provisioner", [
        r("create delete get list watch", "core", "persistentvolumes"),
        r("get list update watch", "core", "persistentvolumeclaims"), r(RO, "storage.k8s.io", "storageclasses"),
        r("watch", "core", "events"), EVENTS], {}, None),
    ("system:public-info-viewer", [urls("get", "/healthz /livez /readyz /version /version/")], {}, None),
    ("system:service-account-issuer-discovery", [urls("get", "/.well-known/openid-configuration /openid/v1/jwks")],
     {}, None),
    ("system:volume-scheduler", [r("get list patch update watch", "core", "persistentvolumes"),
                                 r(RO, "storage.k8s.io", "storageclasses"),
                                 r("get list patch update watch", "core", "persistentvolumeclaims")], {}, None),
    # Tugboat: the union of every controller's permissions, for the opt-out shared credential.
    ("system:tugboat:controller-manager", [
        r("get list watch patch update delete deletecollection", "*", "*"),
        r("create", "core", "pods events endpoints serviceaccounts secrets configmaps persistentvolumes "
                            "persistentvolumeclaims pods/eviction pods/binding bindings"),
        r("create", "apps", "replicasets controllerrevisions"), r("create", "batch", "jobs"),
        r("create", "discovery.k8s.io", "endpointslices"), r("create", "events.k8s.io", "events"),
        r("create", "coordination.k8s.io", "leases"), r("create", "policy", "poddisruptionbudgets"),
        r("create", "storage.k8s.io", "storageclasses"),  # the default local-path class
        # upstream's csrapproving and csrsigning controller roles
        r("approve", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client-kubelet"),
        r("sign", "certificates.k8s.io", "signers", "kubernetes.io/kube-apiserver-client "
          "kubernetes.io/kube-apiserver-client-kubelet kubernetes.io/kubelet-serving kubernetes.io/legacy-unknown")],
     {}, None),
    # Tugboat's scheduler reads PriorityClasses (upstream's relies on spec.priority alone).
    ("system:tugboat:scheduler", [r(RO, "scheduling.k8s.io", "priorityclasses")], {}, None),
    # The proxy's built-in ServiceLB writes LoadBalancer status (k3s runs it in its controller).
    ("system:tugboat:servicelb", [r("get patch update", "core", "services/status")], {}, None),
    # Each agent runs the node half of the local-path provisioner: it deletes Released local PVs.
    ("system:tugboat:local-path-node", [r("get list watch delete", "core", "persistentvolumes")], {}, None),
    # The agents enforce NetworkPolicy (as k3s's embedded kube-router): they read policies and namespaces.
    ("system:tugboat:network-policy", [r("list watch", "core", "pods namespaces"),
                                       r("list watch", "networking.k8s.io", "networkpolicies")], {}, None),
    # metrics-server's role (Tugboat serves metrics.k8s.io itself): `kubectl top` for view/edit/admin.
    ("system:aggregated-metrics-reader", [r(RO, "metrics.k8s.io", "pods nodes")],
     {"rbac.authorization.k8s.io/aggregate-to-admin": "true", "rbac.authorization.k8s.io/aggregate-to-edit": "true",
      "rbac.authorization.k8s.io/aggregate-to-view": "true"}, None),
    # The rules of kubeadm's CoreDNS ClusterRole `system:coredns`, for the cluster DNS identity.
    ("system:coredns", [r("list watch", "core", "endpoints services pods namespaces"),
                        r("list watch", "discovery.k8s.io", "endpointslices")], {}, None),
]

# Binding name (= role name unless given) → subjects
_BINDINGS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("cluster-admin", "cluster-admin", [("Group", "system:masters")]),
    ("system:basic-user", "system:basic-user", [("Group", "system:authenticated")]),
    ("system:discovery", "system:discovery", [("Group", "system:authenticated")]),
    ("system:kube-controller-manager", "system:kube-controller-manager", [("User", "system:kube-controller-manager")]),
    ("system:kube-dns", "system:kube-dns", [("ServiceAccount", "kube-system/kube-dns")]),
    ("system:kube-scheduler", "system:kube-scheduler", [("User", "system:kube-scheduler")]),
    ("system:monitoring", "system:monitoring", [("Group", "system:monitoring")]),
    ("system:node", "system:node", []),
    ("system:node-proxier", "system:node-proxier", [("User", "system:kube-proxy")]),
    ("system:public-info-viewer", "system:public-info-viewer",
     [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
     [("Group", "system:serviceaccounts")]),
    ("system:volume-scheduler", "system:volume-scheduler", [("User", "system:kube-scheduler")]),
    ("system:tugboat:controller-manager", "system:tugboat:controller-manager",
     [("Group", "system:tugboat:controller-manager-shared")]),
    ("system:tugboat:scheduler", "system:tugboat:scheduler", [("User", "system:kube-scheduler")]),
    ("system:tugboat:servicelb", "system:tugboat:servicelb", [("User", "system:kube-proxy")]),
    ("system:tugboat:local-path-node", "system:tugboat:local-path-node", [("Group", "system:nodes")]),
    ("system:tugboat:network-policy", "system:tugboat:network-policy", [("Group", "system:nodes")]),
    ("system:coredns", "system:coredns", [("User", "system:tug-dns"), ("ServiceAccount", "kube-system/coredns")]),
    # kubeadm's node-join bindings (TLS bootstrapping with bootstrap tokens, certificate rotation)
    ("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", [("Group", "system:bootstrappers")]),
    ("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
     [("Group", "system:bootstrappers")]),
    # the API server's client identity towards the node agents (proxied logs/exec/port-forward/stats)
    ("kubeadm:apiserver-kubelet-client", "system:kubelet-api-admin", [("User", "kube-apiserver-kubelet-client")]),
    ("kubeadm:node-autoapprove-certificate-rotation",
     "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [("Group", "system:nodes")]),
]


def _meta(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
            "annotations": {AUTOUPDATE: "true"}}


def cluster_roles() -> list[Obj]:
    from .bootstrap_controller_roles import controller_cluster_roles
    out = controller_cluster_roles()
    for name, rules, labels, agg in _ROLES:
        role: Obj = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": _meta(name, labels),
                     "rules": [dict(x) for x in rules]}
        if agg:
            role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {agg: "true"}}]}
        out.append(role)
    return out


def _subject(kind: str, name: str) -> Obj:
    if kind == "ServiceAccount":
        ns, _, n = name.partition("/")
        return {"kind": kind, "name": n, "namespace": ns}
    return {"kind": kind, "apiGroup": RBAC, "name": name}


def cluster_role_bindings() -> list[Obj]:
    from .bootstrap_controller_roles import controller_cluster_role_bindings
    out = controller_cluster_role_bindings()
    for name, role, subjects in _BINDINGS:
        b: Obj = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
                  "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}}
        if subjects:
            b["subjects"] = [_subject(k, n) for k, n in subjects]
        out.append(b)
    return out
