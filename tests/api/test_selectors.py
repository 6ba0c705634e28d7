import pytest

from tugboat.api.errors import ApiError
from tugboat.api.selectors import (
    check_field_labels,
    format_label_selector,
    format_labels,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selector_from_set,
    validate_label_selector,
)


@pytest.mark.parametrize("text, canonical", [
    ("", ""),
    ("app=web", "app=web"),
    ("app==web", "app==web"),
    ("  app = web ,  tier!=db", "app=web,tier!=db"),
    ("z,!a", "!a,z"),                                   # sorted by key
    ("env in (prod, dev)", "env in (dev,prod)"),
    ("env notin (prod)", "env notin (prod)"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("a=", "a="),
    ("in in (in,notin)", "in in (in,notin)"),           # keywords are values inside a set
    ("example.com/role=x", "example.com/role=x"),
    ("n>5,m<3", "m<3,n>5"),
])
def test_parse_canonical_string(text, canonical):
    assert str(parse_label_selector(text)) == canonical


LABELS = {"app": "web", "tier": "front", "n": "7"}


@pytest.mark.parametrize("text, matches", [
    ("app=web", True), ("app=db", False), ("app!=db", True), ("missing!=x", True),
    ("app in (web,api)", True), ("app notin (web)", False), ("missing notin (x)", True),
    ("app", True), ("!app", False), ("!missing", True), ("missing", False),
    ("n>5", True), ("n<5", False), ("app>1", False), ("app=web,tier=back", False),
    ("", True),
])
def test_matches(text, matches):
    assert parse_label_selector(text).matches(LABELS) is matches


@pytest.mark.parametrize("text, message", [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("-a=b", 'unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of'),
    ("a=b/c", 'unable to parse requirement: values[0][a]: Invalid value: "b/c": a valid label must be'),
    ("n>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value "
            "must be an integer"),
])
def test_parse_errors_are_400_with_upstream_text(text, message):
    with pytest.raises(ApiError) as e:
        parse_label_selector(text)
    assert e.value.code == 400 and e.value.reason == "BadRequest"
    assert e.value.message.startswith(message), e.value.message


def test_requires_exact_match():
    sel = parse_label_selector("app=web,tier in (a,b),x in (y)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") is None
    assert sel.requires_exact_match("x") == "y"


def test_label_selector_dicts():
    sel = label_selector_from_dict({"matchLabels": {"app": "web"},
                                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]},
                                                         {"key": "gone", "operator": "DoesNotExist"}]})
    assert str(sel) == "app=web,env in (a,b),!gone"
    assert sel.matches({"app": "web", "env": "a"})
    assert not sel.matches({"app": "web", "env": "a", "gone": "1"})
    assert label_selector_from_dict({}).matches({"any": "thing"})
    assert not label_selector_from_dict(None).matches({})
    with pytest.raises(ValueError, match='"Near" is not a valid label selector operator'):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Near"}]})
    assert format_label_selector(None) == "<none>"
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2" and format_labels({}) == "<none>"
    assert selector_from_set({"a": "1"}).matches({"a": "1", "b": "2"})


def test_validate_label_selector_field_errors():
    errs = validate_label_selector({
        "matchLabels": {"bad key!": "v"},
        "matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near"},
        ]}, "spec.selector")
    msgs = [e.message for e in errs]
    assert any(m.startswith('spec.selector.matchLabels: Invalid value: "bad key!"') for m in msgs)
    assert "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is " \
           "'In' or 'NotIn'" in msgs
    assert "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is " \
           "'Exists' or 'DoesNotExist'" in msgs
    assert 'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator' in msgs
    assert validate_label_selector({"matchLabels": {"app": "web"}}, "spec.selector") == []


@pytest.mark.parametrize("text, values, matches", [
    ("metadata.name=a", {"metadata.name": "a"}, True),
    ("metadata.name==a", {"metadata.name": "b"}, False),
    ("status.phase!=Running", {"status.phase": "Pending"}, True),
    ("spec.nodeName=", {}, True),                     # missing field reads as ""
    (r"metadata.name=a\,b", {"metadata.name": "a,b"}, True),
    (r"metadata.name=a\=b\\c", {"metadata.name": "a=b\\c"}, True),
    ("a=1,b=2", {"a": "1", "b": "2"}, True),
    ("a=1,b=2", {"a": "1", "b": "3"}, False),
])
def test_field_selector_matches(text, values, matches):
    assert parse_field_selector(text).matches(values) is matches


@pytest.mark.parametrize("text, message", [
    ("nonsense", "invalid selector: 'nonsense'; can't understand 'nonsense'"),
    (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
    ("a=b=c", "invalid field selector: unescaped character ="),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_errors(text, message):
    with pytest.raises(ApiError) as e:
        parse_field_selector(text)
    assert e.value.code == 400 and e.value.message == message


def test_field_selector_exact_match_and_labels():
    sel = parse_field_selector("metadata.namespace=ns,metadata.name=x")
    assert sel.requires_exact_match("metadata.name") == "x"
    assert parse_field_selector("metadata.name!=x").requires_exact_match("metadata.name") is None
    assert str(parse_field_selector(r"b=1,a=x\,y")) == r"a=x\,y,b=1"
    check_field_labels(sel)
    with pytest.raises(ApiError) as e:
        check_field_labels(parse_field_selector("spec.foo=1"))
    assert e.value.code == 400
    assert e.value.message == '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"'
    with pytest.raises(ApiError) as e:
        check_field_labels(parse_field_selector("spec.foo=1"), {"metadata.name", "spec.nodeName"})
    assert e.value.message == "field label not supported: spec.foo"
