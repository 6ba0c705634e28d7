"""Label and field selectors, parsed and matched exactly like upstream apimachinery.

Users type selectors into `kubectl get -l ...` / `--field-selector ...` and controllers store
them as `metav1.LabelSelector` dicts; both end up here. The grammar, the sort order of
requirements, the `String()` forms (shown in `-o wide` SELECTOR columns) and the error texts
(returned as 400 BadRequest) follow upstream's `labels.Parse` and `fields.ParseSelector`
because kubectl users and client libraries see them verbatim.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, FieldError, bad_request, forbidden, invalid, required
from .validation import is_label_value, is_qualified_name, validate_labels

# Operator names as upstream's selection.Operator values.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GT, LT = "exists", "!", "gt", "lt"
_BINARY = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GT, LT)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `key op values` term; values are kept sorted like upstream's sets.String.List()."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GT, LT):
            if self.key not in labels or len(self.values) != 1:
                return False
            try:
                have, want = int(labels[self.key]), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == GT else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        symbol = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
                  GT: ">", LT: "<"}[op]
        vals = ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            vals = "(" + vals + ")"
        return self.key + symbol + vals


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """AND of requirements. `nothing=True` is upstream's labels.Nothing() (a nil LabelSelector)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def match_nothing(cls) -> LabelSelector:
        return cls((), True)

    @property
    def empty(self) -> bool:
        """True when it selects everything (upstream Selector.Empty())."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        lbls = labels or {}
        return all(r.matches(lbls) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# ---------------------------------------------------------------------------------------------
# labels.Parse


class _ParseError(Exception):
    pass


_SPECIAL = "=!(),><"
_WHITESPACE = " \t\r\n"
_TOKENS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "DEQ", "=": "EQ", ">": "GT", "in": "IN",
           "<": "LT", "!=": "NEQ", "notin": "NOTIN", "(": "OPEN"}
_OPS = {"IN": IN, "EQ": EQUALS, "DEQ": DOUBLE_EQUALS, "GT": GT, "LT": LT, "NOTIN": NOT_IN, "NEQ": NOT_EQUALS}


def _lex(s: str) -> list[tuple[str, str]]:
    """Tokens as (type, literal); types are the _TOKENS values, "ID", "END" or "ERROR"."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n:
            out.append(("END", ""))
            return out
        if s[i] in _SPECIAL:
            buf, last = "", None
            while i < n and s[i] in _SPECIAL:
                cand = buf + s[i]
                if cand in _TOKENS:
                    buf, last = cand, (_TOKENS[cand], cand)
                    i += 1
                elif last is not None:
                    break
                else:
                    buf = cand
                    i += 1
            out.append(last if last is not None else ("ERROR", f"error expected: keyword found '{buf}'"))
        else:
            j = i
            while j < n and s[j] not in _SPECIAL and s[j] not in _WHITESPACE:
                j += 1
            lit = s[i:j]
            i = j
            out.append((_TOKENS.get(lit, "ID"), lit))


class _Parser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        return ("ID", lit) if values and tok in ("IN", "NOTIN") else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok in ("ID", "NOT"):
                try:
                    reqs.append(self.requirement())
                except _ParseError as e:
                    raise _ParseError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.take()
                if t == "END":
                    return reqs
                if t == "COMMA":
                    t2, l2 = self.peek()
                    if t2 not in ("ID", "NOT"):
                        raise _ParseError(f"found '{l2}', expected: identifier after ','")
                    continue
                raise _ParseError(f"found '{lit2}', expected: ',' or 'end of string'")
            if tok == "END":
                return reqs
            raise _ParseError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = ""
        tok, key = self.take()
        if tok == "NOT":
            op = DOES_NOT_EXIST
            tok, key = self.take()
        if tok != "ID":
            raise _ParseError(f"found '{key}', expected: identifier")
        errs = is_qualified_name(key)
        if errs:
            raise _ParseError(f'<nil>: Invalid value: "{key}": ' + "; ".join(errs))
        if self.peek()[0] in ("END", "COMMA"):
            if op != DOES_NOT_EXIST:
                op = EXISTS
        if op in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, op, [])
        tok, lit = self.take(values=False)
        if tok not in _OPS:
            raise _ParseError(f"found '{lit}', expected: {', '.join(_BINARY)}")
        op = _OPS[tok]
        vals = self.set_values() if op in (IN, NOT_IN) else self.exact_value()
        return _new_requirement(key, op, sorted(vals))

    def set_values(self) -> set[str]:
        tok, lit = self.take()
        if tok != "OPEN":
            raise _ParseError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == "CLOSE":
            self.take()
            return {""}
        if tok not in ("ID", "COMMA"):
            raise _ParseError(f"found '{lit}', expected: ',', ')' or identifier")
        vals: set[str] = set()
        while True:
            t, v = self.take()
            if t == "ID":
                vals.add(v)
                t2, l2 = self.peek()
                if t2 == "COMMA":
                    continue
                if t2 == "CLOSE":
                    break
                raise _ParseError(f"found '{l2}', expected: ',' or ')'")
            if t == "COMMA":
                if not vals:
                    vals.add("")
                t2, _ = self.peek()
                if t2 == "CLOSE":
                    vals.add("")
                    break
                if t2 == "COMMA":
                    vals.add("")
                continue
            raise _ParseError(f"found '{v}', expected: ',', or identifier")
        if self.take()[0] != "CLOSE":
            raise _ParseError(f"found '{lit}', expected: ')'")
        return vals

    def exact_value(self) -> set[str]:
        if self.peek()[0] in ("END", "COMMA"):
            return {""}
        tok, lit = self.take()
        if tok == "ID":
            return {lit}
        raise _ParseError(f"found '{lit}', expected: identifier")


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """Upstream NewRequirement's value checks (the key was checked by the parser)."""
    msgs: list[str] = []
    shown = "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"
    if op in (IN, NOT_IN) and not values:
        msgs.append(f"values: Invalid value: {shown}: for 'in', 'notin' operators, values set can't be empty")
    if op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        msgs.append(f"values: Invalid value: {shown}: exact-match compatibility requires one single value")
    if op in (GT, LT):
        if len(values) != 1:
            msgs.append(f"values: Invalid value: {shown}: for 'Gt', 'Lt' operators, exactly one value is required")
        for i, v in enumerate(values):
            try:
                int(v, 10)
            except ValueError:
                msgs.append(f'values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' operators, the value must be an integer')
    for i, v in enumerate(values):
        errs = is_label_value(v)
        if errs:
            msgs.append(f'values[{i}][{key}]: Invalid value: "{v}": ' + "; ".join(errs))
    if msgs:
        raise _ParseError(msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]")
    return Requirement(key, op, tuple(values))


def parse_label_selector(selector: str | None) -> LabelSelector:
    """Parse the `labelSelector` query parameter; raises ApiError 400 with upstream's message."""
    if not selector:
        return LabelSelector()
    try:
        reqs = _Parser(selector).parse()
    except _ParseError as e:
        raise bad_request(str(e)) from None
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """labels.SelectorFromSet: equality on every pair (a Service's or RC's selector map)."""
    if not labels:
        return LabelSelector()
    return LabelSelector(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted(labels.items())))


# ---------------------------------------------------------------------------------------------
# metav1.LabelSelector dicts

_EXPR_OPS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, {} selects everything.

    Raises ValueError (with upstream's text) for an unknown operator; objects that passed
    validation never do that.
    """
    if sel is None:
        return LabelSelector.match_nothing()
    reqs: list[Requirement] = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append(Requirement(k, EQUALS, (v,)))
    for expr in sel.get("matchExpressions") or []:
        op = _EXPR_OPS.get(expr.get("operator", ""))
        if op is None:
            raise ValueError(f'"{expr.get("operator", "")}" is not a valid label selector operator')
        reqs.append(Requirement(expr.get("key", ""), op, tuple(sorted(expr.get("values") or ()))))
    reqs.sort(key=lambda r: r.key)
    return LabelSelector(tuple(reqs))


def validate_label_selector(sel: Any, path: str) -> list[FieldError]:
    """unversioned ValidateLabelSelector: field errors for a metav1.LabelSelector dict."""
    if sel is None:
        return []
    if not isinstance(sel, dict):
        return [invalid(path, sel, "must be an object")]
    errs = validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, dict):
            errs.append(invalid(p, expr, "must be an object"))
            continue
        op, values = expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(f"{p}.values",
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = expr.get("key", "")
        for msg in is_qualified_name(key if isinstance(key, str) else ""):
            errs.append(invalid(f"{p}.key", key, msg))
        for j, v in enumerate(values):
            for msg in is_label_value(v if isinstance(v, str) else ""):
                errs.append(invalid(f"{p}.values[{j}]", v, msg))
    return errs


def format_label_selector(sel: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: `app=web,tier in (a,b)`, `<none>` when it selects nothing
    or everything, `<error>` when it cannot be converted."""
    try:
        s = str(label_selector_from_dict(sel))
    except ValueError:
        return "<error>"
    return s or "<none>"


def format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: sorted `k=v` pairs joined by commas, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# ---------------------------------------------------------------------------------------------
# fields.ParseSelector


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def matches(self, values: Mapping[str, str]) -> bool:
        have = values.get(self.field, "")
        return have != self.value if self.operator == NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        op = "!=" if self.operator == NOT_EQUALS else "="
        return f"{self.field}{op}{escape_field_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, values: Mapping[str, str]) -> bool:
        return all(r.matches(values) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value `field` must equal (e.g. metadata.name=x turns a list into a get)."""
        for r in self.requirements:
            if r.field == field and r.operator != NOT_EQUALS:
                return r.value
        return None

    @property
    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    slash = False
    for c in s:
        if slash:
            if c not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            slash = False
        elif c == "\\":
            slash = True
        elif c in ",=":
            raise bad_request(f"invalid field selector: unescaped character {c}")
        else:
            out.append(c)
    if slash:
        raise bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(s: str) -> list[str]:
    terms, start, slash = [], 0, False
    for i, c in enumerate(s):
        if slash:
            slash = False
        elif c == "\\":
            slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def parse_field_selector(selector: str | None) -> FieldSelector:
    """Parse the `fieldSelector` query parameter; raises ApiError 400 like upstream."""
    if not selector:
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(selector)):
        if not part:
            continue
        for i in range(len(part)):
            op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
            if op is not None:
                lhs, rhs = part[:i], part[i + len(op):]
                reqs.append(FieldRequirement(lhs, op, _unescape_field_value(rhs)))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{part}'")
    return FieldSelector(tuple(reqs))


DEFAULT_FIELD_LABELS = ("metadata.name", "metadata.namespace")


def check_field_labels(sel: FieldSelector, supported: Collection[str] | None = None) -> None:
    """Reject field labels the kind can't filter on, with upstream's 400 message.

    `supported=None` means the kind only has the default (metadata.name, metadata.namespace)
    and gets `DefaultMetaV1FieldSelectorConversion`'s text; kinds with their own conversion
    function (pods, nodes, events, secrets, ...) pass their full list and get
    `field label not supported: X`.
    """
    for f in sel.fields:
        if supported is None:
            if f not in DEFAULT_FIELD_LABELS:
                raise ApiError(400, "BadRequest",
                               f'"{f}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        elif f not in supported:
            raise bad_request(f"field label not supported: {f}")
