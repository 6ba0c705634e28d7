"""Kubernetes resource quantities ("100m", "1.5Gi", "1e3"), parsed and printed like upstream.

Quantities are exact decimals, never floats: requests are summed and compared by the
scheduler, quota and validation, and printed back in status and defaults. Upstream keeps the
suffix *kind* a quantity was written with (binary "Gi", decimal "G"/"m", or an exponent "e3")
and re-emits the value in canonical form: the largest suffix of that kind that loses no
precision and shows no fraction ("1.5" → "1500m", "1.5Gi" → "1536Mi"). Clients diff what they
sent with what they read back, so the canonical form must match byte for byte.

The scanner follows upstream's `parseQuantityString` exactly, including its quirks: "." and
"-" parse as zero, "1.G" is allowed, values finer than 1n round *away from zero* to the next
nano, and binary quantities are capped at 2^63-1.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DEC_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DEC_BY_EXP = {v: k for k, v in _DEC_SUFFIXES.items()}
_BIN_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BIN_BY_EXP = {0: "", **{v // 10: k for k, v in _BIN_SUFFIXES.items()}}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_BINARY = Decimal(2**63 - 1)
_NANO = Decimal("1e-9")
_INT64_MAX = 2**63 - 1
# Wide enough that multiplying by 2^60 or adding two parsed quantities stays exact in practice.
_CTX = decimal.Context(prec=400, Emax=999_999_999, Emin=-999_999_999, rounding=decimal.ROUND_HALF_EVEN)


def _scan(s: str) -> tuple[bool, str, str, str]:
    """Upstream's parseQuantityString: (positive, num, denom, suffix); ValueError on bad form."""
    positive, pos, end = True, 0, len(s)
    if pos < end and s[0] in "+-":
        positive = s[0] == "+"
        pos += 1
    while pos < end and s[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(ERR_FORMAT)
    return positive, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, like upstream's suffixer.interpret."""
    if suffix in _DEC_SUFFIXES:
        return 10, _DEC_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BIN_SUFFIXES:
        return 2, _BIN_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        digits = body[1:] if body[0] in "+-" else body
        if digits and all(c in _DIGITS for c in digits):
            exp = int(body)
            if -(2**31) <= exp < 2**31:
                return 10, exp, DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact quantity and the suffix kind it is printed with. Ordered and hashed by value."""

    amount: Decimal
    format: str = DECIMAL_SI

    @classmethod
    def parse(cls, s: str) -> Quantity:
        """Upstream's ParseQuantity (strict: no surrounding whitespace)."""
        if not isinstance(s, str):
            raise ValueError(ERR_FORMAT)
        if not s:
            raise ValueError(ERR_FORMAT)
        if s == "0":
            return cls(Decimal(0), DECIMAL_SI)
        positive, num, denom, suffix = _scan(s)
        base, exponent, fmt = _interpret(suffix)
        digits = (num + denom).lstrip("0") or "0"
        sign = 0 if positive else 1
        amount = Decimal((sign, tuple(int(c) for c in digits), -len(denom)))
        if base == 10:
            amount = amount.scaleb(exponent, _CTX)
        else:
            amount = _CTX.multiply(amount, Decimal(2**exponent))
        if amount != 0 and amount.as_tuple().exponent < -9:  # type: ignore[operator]
            amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_CTX)
        if fmt == BINARY_SI:
            if abs(amount) > _MAX_BINARY:
                amount = _MAX_BINARY.copy_sign(amount)
            if 0 < abs(amount) < 1:
                fmt = DECIMAL_SI
        return cls(amount, fmt)

    # -- printing -------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.canonical()

    def canonical(self) -> str:
        """Upstream's CanonicalizeBytes: the string the API server stores and returns."""
        q = self.amount
        if q == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI:
            if -1024 < q < 1024 or q != q.to_integral_value():
                fmt = DECIMAL_SI
        elif fmt not in (DECIMAL_SI, DECIMAL_EXPONENT):
            fmt = DECIMAL_EXPONENT
        if fmt == BINARY_SI:
            n = int(q)
            exp = 0
            while n % 1024 == 0 and exp < 6:
                n //= 1024
                exp += 1
            while n % 1024 == 0:  # beyond Ei: upstream keeps dividing and has no suffix
                n //= 1024
                exp += 1
            return f"{n}{_BIN_BY_EXP.get(exp, '')}"
        sign, digit_t, exp10 = q.as_tuple()
        assert isinstance(exp10, int)
        digits = "".join(map(str, digit_t)).rstrip("0")
        exp10 += len(digit_t) - len(digits)
        while exp10 % 3:
            digits += "0"
            exp10 -= 1
        number = ("-" if sign else "") + digits
        if fmt == DECIMAL_SI and exp10 in _DEC_BY_EXP:
            return number + _DEC_BY_EXP[exp10]
        return number if exp10 == 0 else f"{number}e{exp10}"

    # -- accessors ------------------------------------------------------------------------
    def scaled_value(self, scale: int) -> int:
        """ceil(q / 10^scale), rounded away from zero, saturating at the int64 range."""
        if self.amount == 0:
            return 0
        if self.amount.adjusted() - scale > 19:
            return _INT64_MAX if self.amount > 0 else -_INT64_MAX - 1
        v = int(self.amount.scaleb(-scale, _CTX).to_integral_value(rounding=decimal.ROUND_UP))
        return max(-_INT64_MAX - 1, min(_INT64_MAX, v))

    def value(self) -> int:
        return self.scaled_value(0)

    def milli_value(self) -> int:
        return self.scaled_value(-3)

    def is_zero(self) -> bool:
        return self.amount == 0

    def sign(self) -> int:
        return (self.amount > 0) - (self.amount < 0)

    # -- arithmetic and comparison (by value; the left operand's format wins unless zero) --
    def __add__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(_CTX.add(self.amount, other.amount), fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(_CTX.subtract(self.amount, other.amount), fmt)

    def __neg__(self) -> Quantity:
        return Quantity(-self.amount, self.format)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self.amount == other.amount
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.amount)

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < other.amount

    def __le__(self, other: Quantity) -> bool:
        return self.amount <= other.amount

    def __gt__(self, other: Quantity) -> bool:
        return self.amount > other.amount

    def __ge__(self, other: Quantity) -> bool:
        return self.amount >= other.amount

    def cmp(self, other: Quantity) -> int:
        return (self.amount > other.amount) - (self.amount < other.amount)


def quantity(value: Any) -> Quantity:
    """A quantity from a JSON value, as upstream's UnmarshalJSON: a string (surrounding
    whitespace ignored) or a JSON number. Raises ValueError on anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(ERR_FORMAT)
    if isinstance(value, int):
        return Quantity.parse(str(value))
    if isinstance(value, float):
        return Quantity.parse(repr(value).replace("e+", "e"))
    if isinstance(value, str):
        return Quantity.parse(value.strip())
    raise ValueError(ERR_FORMAT)


def parse_quantity(value: Any) -> Decimal:
    """The exact numeric value of a quantity (JSON string or number); ValueError if invalid."""
    return quantity(value).amount


def format_quantity(value: Decimal | int, fmt: str = DECIMAL_SI) -> str:
    """Canonical string of a value in the given format (DecimalSI, BinarySI, DecimalExponent)."""
    return Quantity(Decimal(value), fmt).canonical()


def canonicalize(value: Any) -> str:
    """Canonical form of a quantity as written by a user (`"1.5Gi"` → `"1536Mi"`)."""
    return quantity(value).canonical()


def milli_value(value: Any) -> int:
    return quantity(value).milli_value()


def is_valid(value: Any) -> bool:
    try:
        quantity(value)
    except ValueError:
        return False
    return True
