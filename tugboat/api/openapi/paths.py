"""The `paths` section of a group-version OpenAPI v3 document.

kubectl reads three things from paths: the PATCH operation of a kind (found by its
`x-kubernetes-group-version-kind`) must list `fieldValidation` (else `apply` falls back to
client-side validation with the v2 schema, which we do not serve), its requestBody media types
(listing `application/strategic-merge-patch+json` makes `kubectl apply` compute strategic merge
patches from our component schemas), and nothing else. The rest mirrors upstream's shape so
generic OpenAPI tooling sees the API it expects: one collection path and one item path per
resource (plus the all-namespaces list path), one path per subresource, each operation with
`operationId`, `x-kubernetes-action` and the GVK it returns. Watch paths are omitted
(deprecated upstream; `?watch=true` on the list path is declared instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tugboat.api.openapi import params as P
from tugboat.api.scheme import ResourceType, Subresource

Op = dict[str, Any]
RefFor = Callable[[str, str, str], str | None]  # (group, version, kind) -> component name

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"

BUILTIN_MEDIA = ["application/json", "application/vnd.kubernetes.protobuf", "application/yaml"]
CUSTOM_MEDIA = ["application/json", "application/yaml"]
WATCH_MEDIA = {"application/json": "application/json;stream=watch",
               "application/vnd.kubernetes.protobuf": "application/vnd.kubernetes.protobuf;stream=watch"}
PATCH_TYPES_BUILTIN = ["application/apply-patch+yaml", "application/json-patch+json",
                       "application/merge-patch+json", "application/strategic-merge-patch+json"]
PATCH_TYPES_CUSTOM = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
CONNECT = {"attach", "exec", "portforward", "proxy"}
_METHOD = {"get": "get", "update": "put", "patch": "patch", "create": "post", "delete": "delete"}
_OP_VERB = {"get": "read", "put": "replace", "patch": "patch", "post": "create", "delete": "delete"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": "#/components/schemas/" + name}


def group_ident(group: str) -> str:
    """`rbac.authorization.k8s.io` → `RbacAuthorization`, core → `Core` (operationId stem)."""
    if not group:
        return "Core"
    g = group.removesuffix(".k8s.io")
    return "".join(p[:1].upper() + p[1:] for p in g.replace("-", ".").split("."))


def tag(group: str, version: str) -> str:
    ident = group_ident(group)
    return f"{ident[:1].lower()}{ident[1:]}_{version}"


class PathBuilder:
    """Builds paths for the resources of one group-version."""

    def __init__(self, group: str, version: str, ref_for: RefFor, custom: bool) -> None:
        self.group, self.version, self.ref_for, self.custom = group, version, ref_for, custom
        self.prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.ident = group_ident(group) + version[:1].upper() + version[1:]
        self.tags = [tag(group, version)]
        self.media = CUSTOM_MEDIA if custom else BUILTIN_MEDIA
        self.refs: set[str] = set()  # component names the paths reference

    # --- pieces ----------------------------------------------------------------------------

    def _schema(self, name: str | None) -> dict[str, Any]:
        if name is None:
            return {"type": "object"}
        self.refs.add(name)
        return ref(name)

    def _content(self, schema: dict[str, Any], watch: bool = False) -> dict[str, Any]:
        out = {m: {"schema": schema} for m in self.media}
        if watch:
            for m in self.media:
                if m in WATCH_MEDIA:
                    out[WATCH_MEDIA[m]] = {"schema": schema}
            out = dict(sorted(out.items()))
        return out

    def _responses(self, schema: dict[str, Any], codes: tuple[str, ...] = ("200",), watch: bool = False) -> Op:
        text = {"200": "OK", "201": "Created", "202": "Accepted"}
        out: Op = {c: {"description": text[c], "content": self._content(schema, watch)} for c in codes}
        out["401"] = {"description": "Unauthorized"}
        return out

    def _op(self, action: str, op_id: str, description: str, gvk: tuple[str, str, str], **extra: Any) -> Op:
        op: Op = {"description": description, "operationId": op_id, "tags": self.tags}
        op.update(extra)
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = {"group": gvk[0], "kind": gvk[2], "version": gvk[1]}
        return op

    def _body(self, schema: dict[str, Any]) -> Op:
        return {"content": {"*/*": {"schema": schema}}, "required": True}

    def _patch_body(self) -> Op:
        types = PATCH_TYPES_CUSTOM if self.custom else PATCH_TYPES_BUILTIN
        schema = self._schema(PATCH)
        return {"content": {t: {"schema": schema} for t in types}, "required": True}

    # --- one resource ----------------------------------------------------------------------

    def resource(self, rt: ResourceType) -> dict[str, Op]:
        kind = rt.kind
        gvk = (rt.group, rt.version, kind)
        obj = self._schema(self.ref_for(rt.group, rt.version, kind))
        lst = self._schema(self.ref_for(rt.group, rt.version, rt.list_kind))
        ns = "Namespaced" if rt.namespaced else ""
        base = f"{self.prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{self.prefix}/{rt.plural}"
        scope = [P.NAMESPACE] if rt.namespaced else []
        verbs = set(rt.verbs)
        paths: dict[str, Op] = {}

        coll: Op = {}
        if "list" in verbs:
            coll["get"] = self._op("list", f"list{self.ident}{ns}{kind}", f"list or watch objects of kind {kind}",
                                   gvk, parameters=P.LIST, responses=self._responses(lst, watch=True))
        if "create" in verbs:
            coll["post"] = self._op("post", f"create{self.ident}{ns}{kind}", f"create a {kind}", gvk,
                                    parameters=P.CREATE, requestBody=self._body(obj),
                                    responses=self._responses(obj, ("200", "201", "202")))
        if "deletecollection" in verbs:
            coll["delete"] = self._op("deletecollection", f"delete{self.ident}Collection{ns}{kind}",
                                      f"delete collection of {kind}", gvk, parameters=P.DELETE_COLLECTION,
                                      requestBody=self._body(self._schema(DELETE_OPTIONS)),
                                      responses=self._responses(self._schema(STATUS)))
        if coll:
            coll["parameters"] = scope + [P.PRETTY]
            paths[base] = coll

        name = P.path_param("name", f"name of the {kind}")
        item: Op = {}
        if "get" in verbs:
            item["get"] = self._op("get", f"read{self.ident}{ns}{kind}", f"read the specified {kind}", gvk,
                                   responses=self._responses(obj))
        if "update" in verbs:
            item["put"] = self._op("put", f"replace{self.ident}{ns}{kind}", f"replace the specified {kind}", gvk,
                                   parameters=P.UPDATE, requestBody=self._body(obj),
                                   responses=self._responses(obj, ("200", "201")))
        if "delete" in verbs:
            status = self._schema(STATUS)
            item["delete"] = self._op("delete", f"delete{self.ident}{ns}{kind}", f"delete a {kind}", gvk,
                                      parameters=P.DELETE, requestBody=self._body(self._schema(DELETE_OPTIONS)),
                                      responses=self._responses(status, ("200", "202")))
        if "patch" in verbs:
            item["patch"] = self._op("patch", f"patch{self.ident}{ns}{kind}",
                                     f"partially update the specified {kind}", gvk, parameters=P.PATCH,
                                     requestBody=self._patch_body(), responses=self._responses(obj, ("200", "201")))
        if item:
            item["parameters"] = [name] + scope + [P.PRETTY]
            paths[f"{base}/{{name}}"] = item

        if rt.namespaced and "list" in verbs:
            paths[f"{self.prefix}/{rt.plural}"] = {
                "get": self._op("list", f"list{self.ident}{kind}ForAllNamespaces",
                                f"list or watch objects of kind {kind}", gvk,
                                responses=self._responses(lst, watch=True)),
                "parameters": P.LIST[:-1] + [P.PRETTY, P.WATCH],
            }

        for sub in rt.subresources:
            path_params = [P.path_param("name", f"name of the {self._sub_owner_noun(sub, kind)}")] + scope
            ops = self.subresource(rt, sub)
            if ops:
                if sub.name not in CONNECT:
                    path_params = path_params + [P.PRETTY]
                ops["parameters"] = path_params
                paths[f"{base}/{{name}}/{sub.name}"] = ops
        return paths

    @staticmethod
    def _sub_owner_noun(sub: Subresource, kind: str) -> str:
        return {"binding": "Binding", "eviction": "Eviction", "token": "TokenRequest",
                "attach": "PodAttachOptions", "exec": "PodExecOptions", "portforward": "PodPortForwardOptions",
                "proxy": f"{kind}ProxyOptions"}.get(sub.name, kind)

    def subresource(self, rt: ResourceType, sub: Subresource) -> Op:
        ns = "Namespaced" if rt.namespaced else ""
        sub_ident = sub.name[:1].upper() + sub.name[1:]
        gvk = (sub.group, sub.version, sub.kind)
        ops: Op = {}
        if sub.name in CONNECT:
            text = {"type": "string"}
            for verb in sorted(sub.verbs):
                method = _METHOD.get(verb)
                if method is None:
                    continue
                m = method.capitalize()
                ops[method] = self._op(
                    "connect", f"connect{self.ident}{m}{ns}{rt.kind}{sub_ident}",
                    f"connect {method.upper()} requests to {sub.name} of {rt.kind}", gvk,
                    parameters=P.subresource_query(sub.name),
                    responses={"200": {"description": "OK", "content": {"*/*": {"schema": text}}},
                               "401": {"description": "Unauthorized"}})
            return ops
        if sub.name == "log":
            content = {m: {"schema": {"type": "string"}} for m in
                       ["application/json", "application/vnd.kubernetes.protobuf", "application/yaml", "text/plain"]}
            ops["get"] = self._op("get", f"read{self.ident}{ns}{rt.kind}Log", f"read log of the specified {rt.kind}",
                                  gvk, parameters=P.subresource_query("log"),
                                  responses={"200": {"description": "OK", "content": content},
                                             "401": {"description": "Unauthorized"}})
            return ops
        schema = self._schema(self.ref_for(sub.group, sub.version, sub.kind))
        for verb in sorted(sub.verbs):
            method = _METHOD.get(verb)
            if method is None:
                continue
            op_id = f"{_OP_VERB[method]}{self.ident}{ns}{rt.kind}{sub_ident}"
            if method == "get":
                ops["get"] = self._op("get", op_id, f"read {sub.name} of the specified {rt.kind}", gvk,
                                      responses=self._responses(schema))
            elif method == "put":
                ops["put"] = self._op("put", op_id, f"replace {sub.name} of the specified {rt.kind}", gvk,
                                      parameters=P.UPDATE, requestBody=self._body(schema),
                                      responses=self._responses(schema, ("200", "201")))
            elif method == "patch":
                ops["patch"] = self._op("patch", op_id, f"partially update {sub.name} of the specified {rt.kind}",
                                        gvk, parameters=P.PATCH, requestBody=self._patch_body(),
                                        responses=self._responses(schema, ("200", "201")))
            elif method == "post":
                ops["post"] = self._op("post", op_id, f"create {sub.name} of a {rt.kind}", gvk,
                                       parameters=P.CREATE, requestBody=self._body(schema),
                                       responses=self._responses(schema, ("200", "201", "202")))
            elif method == "delete":
                ops["delete"] = self._op("delete", op_id, f"delete {sub.name} of a {rt.kind}", gvk,
                                         responses=self._responses(self._schema(STATUS)))
        return ops

    def resource_list_path(self) -> dict[str, Op]:
        """`GET /apis/<g>/<v>/`: the legacy discovery document of this group-version."""
        name = META + "APIResourceList"
        content = {m: {"schema": self._schema(name)} for m in BUILTIN_MEDIA}
        return {f"{self.prefix}/": {"get": {
            "description": "get available resources", "operationId": f"get{self.ident}APIResources",
            "tags": self.tags,
            "responses": {"200": {"description": "OK", "content": content}, "401": {"description": "Unauthorized"}},
        }}}
