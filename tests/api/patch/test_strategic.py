"""Strategic merge patch on real kinds, checked against upstream's expected outcomes.

The cases restate facts from apimachinery's strategicpatch tests (patch_test.go) on built-in
kinds: each applies `patch` to `current` and expects `result` element for element, list order
included (upstream's order rules are part of the behaviour kubectl users see).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml

from tugboat.api import schema
from tugboat.api.errors import ApiError
from tugboat.api.patch import strategic_merge_patch

KINDS = {"Pod": ("", "v1", "Pod"), "Deployment": ("apps", "v1", "Deployment")}

CASES = yaml.safe_load(r"""
- name: container image changed by name, other containers and fields kept
  kind: Pod
  current: {spec: {containers: [{name: a, image: nginx, args: [x]}, {name: b, image: redis}]}}
  patch: {spec: {containers: [{name: b, image: "redis:7"}]}}
  result: {spec: {containers: [{name: a, image: nginx, args: [x]}, {name: b, image: "redis:7"}]}}

- name: new container without $setElementOrder goes before the live ones (upstream order rule)
  kind: Pod
  current: {spec: {containers: [{name: a}, {name: b}]}}
  patch: {spec: {containers: [{name: sidecar, image: envoy}]}}
  result: {spec: {containers: [{name: sidecar, image: envoy}, {name: a}, {name: b}]}}

- name: $setElementOrder places new containers and keeps live fields
  kind: Pod
  current: {spec: {containers: [{name: "1", image: a}, {name: "2", image: b, tty: true}]}}
  patch:
    spec:
      $setElementOrder/containers: [{name: "4"}, {name: "1"}, {name: "2"}, {name: "3"}]
      containers: [{name: "4", image: d}, {name: "3", image: c}]
  result: {spec: {containers: [{name: "4", image: d}, {name: "1", image: a}, {name: "2", image: b, tty: true},
                               {name: "3", image: c}]}}

- name: $setElementOrder reorders and slots server-only containers by their live position
  kind: Pod
  current: {spec: {containers: [{name: "1", image: a}, {name: "2"}, {name: "9"}, {name: "3"}, {name: "4"}]}}
  patch: {spec: {$setElementOrder/containers: [{name: "2"}, {name: "1"}, {name: "4"}, {name: "3"}]}}
  result: {spec: {containers: [{name: "2"}, {name: "1", image: a}, {name: "9"}, {name: "4"}, {name: "3"}]}}

- name: several server-only containers stay together
  kind: Pod
  current: {spec: {containers: [{name: "1"}, {name: "2"}, {name: "7"}, {name: "9"}, {name: "8"}, {name: "3"}, {name: "4"}]}}
  patch: {spec: {$setElementOrder/containers: [{name: "2"}, {name: "1"}, {name: "4"}, {name: "3"}]}}
  result: {spec: {containers: [{name: "2"}, {name: "1"}, {name: "7"}, {name: "9"}, {name: "8"}, {name: "4"}, {name: "3"}]}}

- name: add one container and delete another in one patch
  kind: Pod
  current: {spec: {containers: [{name: "1"}, {name: "2", image: b}, {name: "4", image: c}]}}
  patch:
    spec:
      $setElementOrder/containers: [{name: "2"}, {name: "3"}]
      containers: [{name: "3"}, {name: "1", $patch: delete}]
  result: {spec: {containers: [{name: "2", image: b}, {name: "4", image: c}, {name: "3"}]}}

- name: env merged by name, $patch delete removes one variable
  kind: Pod
  current: {spec: {containers: [{name: a, env: [{name: A, value: "1"}, {name: B, value: "2"}, {name: C, value: "3"}]}]}}
  patch:
    spec:
      containers:
      - name: a
        $setElementOrder/env: [{name: A}, {name: C}]
        env: [{name: A, value: "10"}, {name: B, $patch: delete}]
  result: {spec: {containers: [{name: a, env: [{name: A, value: "10"}, {name: C, value: "3"}]}]}}

- name: env value replaced by valueFrom when value is nulled
  kind: Pod
  current: {spec: {containers: [{name: a, env: [{name: A, value: "1"}]}]}}
  patch: {spec: {containers: [{name: a, env: [{name: A, value: null, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]}}
  result: {spec: {containers: [{name: a, env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]}}

- name: ports merged by containerPort
  kind: Pod
  current: {spec: {containers: [{name: a, ports: [{containerPort: 80, name: http}, {containerPort: 443}]}]}}
  patch:
    spec:
      containers:
      - name: a
        $setElementOrder/ports: [{containerPort: 80}, {containerPort: 443}, {containerPort: 9090}]
        ports: [{containerPort: 80, protocol: TCP}, {containerPort: 9090, name: metrics}]
  result: {spec: {containers: [{name: a, ports: [{containerPort: 80, name: http, protocol: TCP}, {containerPort: 443},
                                                 {containerPort: 9090, name: metrics}]}]}}

- name: volume source switched with $retainKeys (emptyDir dropped)
  kind: Pod
  current: {spec: {volumes: [{name: data, emptyDir: {}}, {name: cfg, configMap: {name: c}}]}}
  patch:
    spec:
      $setElementOrder/volumes: [{name: data}, {name: cfg}]
      volumes: [{name: data, hostPath: {path: /srv}, $retainKeys: [hostPath, name]}]
  result: {spec: {volumes: [{name: data, hostPath: {path: /srv}}, {name: cfg, configMap: {name: c}}]}}

- name: Deployment strategy to Recreate drops rollingUpdate via $retainKeys
  kind: Deployment
  current: {spec: {replicas: 2, strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}}}
  patch: {spec: {strategy: {$retainKeys: [type], type: Recreate}}}
  result: {spec: {replicas: 2, strategy: {type: Recreate}}}

- name: $retainKeys with a nulled field is accepted
  kind: Deployment
  current: {spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}}}
  patch: {spec: {strategy: {$retainKeys: [type], type: Recreate, rollingUpdate: null}}}
  result: {spec: {strategy: {type: Recreate}}}

- name: tolerations have no merge key and are replaced whole
  kind: Pod
  current: {spec: {tolerations: [{key: a, operator: Exists}, {key: b, operator: Exists}]}}
  patch: {spec: {tolerations: [{key: c, operator: Exists}]}}
  result: {spec: {tolerations: [{key: c, operator: Exists}]}}

- name: args (no strategy) replaced whole
  kind: Pod
  current: {spec: {containers: [{name: a, args: [x, y]}]}}
  patch: {spec: {containers: [{name: a, args: [z]}]}}
  result: {spec: {containers: [{name: a, args: [z]}]}}

- name: finalizers merge as a set, live ones first
  kind: Pod
  current: {metadata: {finalizers: [a, b]}}
  patch: {metadata: {finalizers: [b, c]}}
  result: {metadata: {finalizers: [a, b, c]}}

- name: finalizers with $setElementOrder and $deleteFromPrimitiveList
  kind: Pod
  current: {metadata: {finalizers: [a, b, c]}}
  patch:
    metadata:
      $setElementOrder/finalizers: [d, c, a]
      finalizers: [d]
      $deleteFromPrimitiveList/finalizers: [b]
  result: {metadata: {finalizers: [d, c, a]}}

- name: $deleteFromPrimitiveList of an absent list does nothing
  kind: Pod
  current: {metadata: {name: x}}
  patch: {metadata: {$deleteFromPrimitiveList/finalizers: [a]}}
  result: {metadata: {name: x}}

- name: ownerReferences merged by uid, in the patch's order
  kind: Pod
  current: {metadata: {ownerReferences: [{uid: u1, name: rs1, kind: ReplicaSet}]}}
  patch: {metadata: {ownerReferences: [{uid: u2, name: rs2}, {uid: u1, controller: true}]}}
  result: {metadata: {ownerReferences: [{uid: u2, name: rs2}, {uid: u1, name: rs1, kind: ReplicaSet, controller: true}]}}

- name: $patch replace on a keyed list replaces it
  kind: Pod
  current: {spec: {containers: [{name: a, image: x}, {name: b}]}}
  patch: {spec: {containers: [{name: c, image: y}, {$patch: replace}]}}
  result: {spec: {containers: [{name: c, image: y}]}}

- name: $patch replace on a map replaces the map
  kind: Pod
  current: {metadata: {labels: {a: "1", b: "2"}}}
  patch: {metadata: {labels: {$patch: replace, c: "3"}}}
  result: {metadata: {labels: {c: "3"}}}

- name: $patch delete on a map empties it
  kind: Pod
  current: {metadata: {labels: {a: "1"}, name: p}}
  patch: {metadata: {labels: {$patch: delete}}}
  result: {metadata: {labels: {}, name: p}}

- name: maps merge and null deletes a key
  kind: Pod
  current: {metadata: {labels: {a: "1", b: "2"}, annotations: {x: y}}}
  patch: {metadata: {labels: {a: null, c: "3"}, annotations: null}}
  result: {metadata: {labels: {b: "2", c: "3"}}}

- name: deleting a missing container is a no-op
  kind: Pod
  current: {spec: {containers: [{name: a}]}}
  patch: {spec: {containers: [{name: zz, $patch: delete}]}}
  result: {spec: {containers: [{name: a}]}}

- name: deleting every container leaves an empty list
  kind: Pod
  current: {spec: {containers: [{name: a}, {name: b}]}}
  patch: {spec: {containers: [{name: a, $patch: delete}, {name: b, $patch: delete}]}}
  result: {spec: {containers: []}}

- name: directives and nulls in new subtrees never reach the result
  kind: Deployment
  current: {spec: {replicas: 1}}
  patch:
    spec:
      strategy: {$retainKeys: [type], type: Recreate}
      template:
        metadata: {labels: {$patch: replace, app: x}, annotations: {$patch: delete}}
        spec:
          $setElementOrder/containers: [{name: a}]
          containers:
          - {name: a, image: i, command: null, $setElementOrder/env: [{name: E}], env: [{name: E, value: v}]}
          - {name: gone, $patch: delete}
  result:
    spec:
      replicas: 1
      strategy: {type: Recreate}
      template:
        metadata: {labels: {app: x}}
        spec: {containers: [{name: a, image: i, env: [{name: E, value: v}]}]}

- name: a value of another type replaces the live one
  kind: Pod
  current: {spec: {nodeSelector: {a: b}}}
  patch: {spec: {nodeSelector: [x]}}
  result: {spec: {nodeSelector: [x]}}

- name: $patch replace at the top level
  kind: Pod
  current: {metadata: {name: a}, spec: {}}
  patch: {$patch: replace, metadata: {name: b}}
  result: {metadata: {name: b}}
""")


def _schema(kind: str) -> dict[str, Any]:
    s = schema.for_kind(*KINDS[kind])
    assert s is not None
    return s


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_strategic_merge_patch(case: dict[str, Any]) -> None:
    current, patch = case["current"], case["patch"]
    before = orjson.dumps([current, patch])
    assert strategic_merge_patch(current, patch, _schema(case["kind"])) == case["result"]
    assert orjson.dumps([current, patch]) == before, "inputs must not be mutated"


ERRORS = yaml.safe_load(r"""
- name: $patch merge in a list is refused like upstream
  patch: {spec: {containers: [{name: a, $patch: merge}]}}
  code: 500
  message: merging lists cannot yet be specified in the patch
- name: unknown map directive
  patch: {metadata: {labels: {$patch: frob}}}
  code: 500
  message: "unknown patch type: frob in map: map[$patch:frob]"
- name: keyed item without its merge key
  patch: {spec: {containers: [{image: x}]}}
  code: 500
  message: "map: map[image:x] does not contain declared merge key: name"
- name: $retainKeys not a list
  patch: {spec: {volumes: [{name: v, $retainKeys: hostPath}]}}
  code: 400
  message: invalid patch format of retainKeys
- name: patch sets a key $retainKeys does not list
  patch: {spec: {volumes: [{name: v, hostPath: {path: /x}, $retainKeys: [name]}]}}
  code: 400
  message: invalid patch format of retainKeys
- name: malformed $deleteFromPrimitiveList key
  patch: {metadata: {$deleteFromPrimitiveList: [a]}}
  code: 400
  message: invalid patch format of primitive list
- name: malformed $setElementOrder key
  patch: {spec: {$setElementOrder: [{name: a}]}}
  code: 400
  message: invalid patch format of setElementOrder list
- name: patch list order disagrees with $setElementOrder
  patch: {spec: {$setElementOrder/containers: [{name: a}], containers: [{name: b}]}}
  code: 500
  message: "The order in patch list:\n[map[name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n"
- name: lists of lists
  patch: {metadata: {finalizers: [[a]]}}
  code: 422
  message: the server rejected our request due to an error in our request
- name: mixed element types
  patch: {metadata: {finalizers: [1]}}
  code: 500
  message: "list element types are not identical: [[a] [1]]"
""")


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_bad_patches_get_upstream_status(case: dict[str, Any]) -> None:
    current = {"metadata": {"name": "p", "labels": {"a": "b"}, "finalizers": ["a"]},
               "spec": {"containers": [{"name": "a"}], "volumes": [{"name": "v", "emptyDir": {}}]}}
    with pytest.raises(ApiError) as e:
        strategic_merge_patch(current, case["patch"], _schema("Pod"))
    assert e.value.code == case["code"]
    assert e.value.message == case["message"]


def test_non_object_patch_is_400() -> None:
    with pytest.raises(ApiError) as e:
        strategic_merge_patch({}, [1], _schema("Pod"))  # type: ignore[arg-type]
    assert e.value.code == 400
    assert e.value.message == "json: cannot unmarshal array into Go value of type map[string]interface {}"


def test_without_schema_it_is_a_json_merge_patch() -> None:
    cr = {"spec": {"items": [{"name": "a", "v": 1}], "m": {"x": 1}}}
    got = strategic_merge_patch(cr, {"spec": {"items": [{"name": "b"}], "m": {"y": 2}}}, None)
    assert got == {"spec": {"items": [{"name": "b"}], "m": {"x": 1, "y": 2}}}


def test_result_is_independent_of_inputs() -> None:
    current = {"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}}
    patch = {"spec": {"containers": [{"name": "b", "ports": [{"containerPort": 1}]}]}}
    got = strategic_merge_patch(current, patch, _schema("Pod"))
    for c in got["spec"]["containers"]:
        c["changed"] = True
        for lst in ("env", "ports"):
            c.get(lst, []).append({})
    assert current == {"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}}
    assert patch == {"spec": {"containers": [{"name": "b", "ports": [{"containerPort": 1}]}]}}
