"""A CustomResourceDefinition, then custom objects, with the real kubectl."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import TugServer

pytestmark = pytest.mark.e2e

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer, minimum: 0, default: 1}
          status:
            type: object
            properties:
              replicas: {type: integer}
"""


@pytest.fixture(scope="module")
def crd(tug: TugServer) -> str:
    tug.kubectl("apply", "-f", "-", input=CRD)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        p = tug.kubectl("get", "crontabs", "-A", check=False)
        if p.returncode == 0:
            break
        time.sleep(0.3)
    return "crontabs.stable.example.com"


def test_crd_is_established(tug: TugServer, crd: str) -> None:
    c = json.loads(tug.kubectl("get", "crd", crd, "-o", "json").stdout)
    conds = {x["type"]: x["status"] for x in c["status"]["conditions"]}
    assert conds.get("Established") == "True"
    assert "ct" in tug.kubectl("api-resources", "--api-group=stable.example.com").stdout


def test_custom_objects_crud_and_columns(tug: TugServer, ns: str, crd: str) -> None:
    obj = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: every-minute}
spec: {cronSpec: "* * * * */1", image: my-cron}
"""
    assert tug.kubectl("-n", ns, "apply", "-f", "-", input=obj).stdout.strip() == \
        "crontab.stable.example.com/every-minute created"
    table = tug.kubectl("-n", ns, "get", "ct").stdout.splitlines()
    # Like upstream, a CRD that declares printer columns gets no implicit AGE column.
    assert table[0].split() == ["NAME", "SPEC", "REPLICAS"]
    assert table[1].split()[:2] == ["every-minute", "*"]
    got = json.loads(tug.kubectl("-n", ns, "get", "crontab", "every-minute", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 1  # schema default
    tug.kubectl("-n", ns, "scale", "crontab", "every-minute", "--replicas=3")
    got = json.loads(tug.kubectl("-n", ns, "get", "crontab", "every-minute", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 3
    tug.kubectl("-n", ns, "patch", "crontab", "every-minute", "--type=merge", "-p", '{"spec":{"image":"v2"}}')
    assert tug.kubectl("-n", ns, "get", "ct", "every-minute", "-o", "jsonpath={.spec.image}").stdout == "v2"
    tug.kubectl("-n", ns, "delete", "crontab", "every-minute")
    assert tug.kubectl("-n", ns, "get", "ct", "-o", "name").stdout.strip() == ""


def test_custom_object_schema_validation(tug: TugServer, ns: str, crd: str) -> None:
    bad = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad}
spec: {cronSpec: "x", replicas: "three"}
"""
    p = tug.kubectl("-n", ns, "apply", "-f", "-", input=bad, check=False)
    assert p.returncode != 0
    assert "spec.replicas" in p.stderr and "integer" in p.stderr
    neg = bad.replace('"three"', "-1")
    p = tug.kubectl("-n", ns, "apply", "-f", "-", input=neg, check=False)
    assert p.returncode != 0 and "greater than or equal to 0" in p.stderr
