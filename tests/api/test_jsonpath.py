import pytest

from tugboat.api.jsonpath import JSONPathError, evaluate, to_text

OBJ = {
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {"replicas": 3, "cronSpec": "*/5 * * * *", "ports": [{"port": 80}, {"port": 443}, {"port": 8080}]},
    "status": {
        "conditions": [
            {"type": "Available", "status": "True", "n": 1},
            {"type": "Ready", "status": "False", "n": 2},
        ],
        "empty": [],
    },
}


@pytest.mark.parametrize("expr, expected", [
    (".spec.replicas", [3]),
    ("{.spec.cronSpec}", ["*/5 * * * *"]),
    ("$.metadata.name", ["web"]),
    (".spec.missing", []),
    (".spec.ports[0].port", [80]),
    (".spec.ports[-1].port", [8080]),
    (".spec.ports[*].port", [80, 443, 8080]),
    (".spec.ports[0:2].port", [80, 443]),
    (".spec.ports[::2].port", [80, 8080]),
    (".spec.ports[0,2].port", [80, 8080]),
    (".spec.ports[7].port", []),
    (".spec.ports.port", []),                           # no flattening of lists, as upstream
    (".metadata.labels['app.kubernetes.io/name']", ["web"]),
    (".metadata.labels.app\\.kubernetes\\.io/name", ["web"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
    (".status.conditions[?(@.type=='Available')].status", ["True"]),
    ('.status.conditions[?(@.type!="Ready")].type', ["Available"]),
    (".status.conditions[?(@.n>1)].type", ["Ready"]),
    (".status.conditions[?(@.n<=1)].type", ["Available"]),
    (".status.conditions[?(@.missing)].type", []),
    (".status.conditions[?(@.n)].type", ["Available", "Ready"]),
    ("..port", [80, 443, 8080]),
    (".spec.*", ["*/5 * * * *", [{"port": 80}, {"port": 443}, {"port": 8080}], 3]),  # map keys sorted
])
def test_evaluate(expr, expected):
    assert evaluate(OBJ, expr) == expected


@pytest.mark.parametrize("expr", [".spec.ports[0", ".spec.ports[abc]", '.a[?(@.x ~ "y")]'])
def test_bad_expressions_raise(expr):
    with pytest.raises(JSONPathError):
        evaluate(OBJ, expr)


@pytest.mark.parametrize("value, text", [
    ("s", "s"), (3, "3"), (2.0, "2"), (1.5, "1.5"), (True, "true"), (None, "null"),
    ({"b": 1, "a": [1, "x"]}, '{"a":[1,"x"],"b":1}'),
])
def test_to_text_like_kubectl(value, text):
    assert to_text(value) == text
