"""Quantities parse and print exactly as upstream (cases from apimachinery's quantity tests)."""

from decimal import Decimal

import pytest

from tugboat.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    Quantity,
    canonicalize,
    format_quantity,
    is_valid,
    milli_value,
    parse_quantity,
    quantity,
)


@pytest.mark.parametrize("text, canonical", [
    ("0", "0"),
    ("100m", "100m"),
    ("1.5", "1500m"),
    ("1.5Gi", "1536Mi"),
    ("500Mi", "500Mi"),
    ("2048Ki", "2Mi"),
    ("1024Mi", "1Gi"),
    ("1023Ki", "1023Ki"),
    ("1.1Ki", "1126400m"),   # binary with a fraction is shown as decimal, not rounded
    ("0.5Ki", "512"),        # binary below 1024 is shown as decimal
    ("1000", "1k"),
    ("1000000m", "1k"),
    ("100M", "100M"),
    ("1e3", "1e3"),
    ("1E6", "1e6"),
    ("1.5e3", "1500"),
    ("12e2", "1200"),
    ("1e-3", "1e-3"),
    ("0.1", "100m"),
    ("1.2345", "1234500u"),
    ("0.9n", "1n"),          # rounded away from zero to the nano
    ("-0.1n", "-1n"),
    ("-1.5", "-1500m"),
    ("+2", "2"),
    ("1.G", "1G"),           # upstream allows a trailing dot
    ("8Ei", "9223372036854775807"),  # binary quantities are capped at 2^63-1
    ("18446744073709551616", "18446744073709551616"),  # decimal ones are not
    ("1e21", "1e21"),
    (".", "0"),
    ("0Ki", "0"),
])
def test_canonical_form(text: str, canonical: str) -> None:
    assert Quantity.parse(text).canonical() == canonical
    assert str(Quantity.parse(canonical)) == canonical  # canonical form is a fixed point


@pytest.mark.parametrize("text", [
    "", " 1", "1 ", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", "1e", "1Kb",
])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        Quantity.parse(text)
    assert not is_valid(text) or text.strip() != text


def test_error_messages_match_upstream() -> None:
    with pytest.raises(ValueError, match=r"quantities must match the regular expression"):
        Quantity.parse("aoeu")
    with pytest.raises(ValueError, match="unable to parse quantity's suffix"):
        Quantity.parse("1i")


def test_formats_remembered() -> None:
    assert Quantity.parse("1Gi").format == BINARY_SI
    assert Quantity.parse("1G").format == DECIMAL_SI
    assert Quantity.parse("1e9").format == DECIMAL_EXPONENT


def test_values() -> None:
    assert parse_quantity("1.5Gi") == Decimal(1610612736)
    assert milli_value("100m") == 100
    assert milli_value("1") == 1000
    assert milli_value("0.5m") == 1  # ceil
    assert Quantity.parse("1.5").value() == 2
    assert Quantity.parse("1e1000").milli_value() == 2**63 - 1  # saturates instead of blowing up


def test_json_forms() -> None:
    assert canonicalize(2) == "2"
    assert canonicalize(0.5) == "500m"
    assert canonicalize(" 1Gi ") == "1Gi"  # UnmarshalJSON trims
    with pytest.raises(ValueError):
        quantity(True)
    with pytest.raises(ValueError):
        quantity(None)


def test_comparison_and_arithmetic() -> None:
    assert Quantity.parse("1Gi") > Quantity.parse("1G")
    assert Quantity.parse("1000m") == Quantity.parse("1")
    assert Quantity.parse("500m") < Quantity.parse("1")
    assert len({Quantity.parse("1"), Quantity.parse("1000m")}) == 1
    total = Quantity.parse("1Gi") + Quantity.parse("512Mi")
    assert str(total) == "1536Mi"
    assert str(Quantity.parse("1") - Quantity.parse("250m")) == "750m"
    assert str(Quantity.parse("0") + Quantity.parse("1Ki")) == "1Ki"  # zero takes the other's format
    assert Quantity.parse("1").cmp(Quantity.parse("2")) == -1


def test_format_quantity() -> None:
    assert format_quantity(Decimal("1.5")) == "1500m"
    assert format_quantity(3 * 1024**3, BINARY_SI) == "3Gi"
    assert format_quantity(1500, DECIMAL_EXPONENT) == "1500"
    assert format_quantity(2000, DECIMAL_EXPONENT) == "2e3"


def test_huge_exponent_is_cheap() -> None:
    assert Quantity.parse("1e999999").canonical() == "1e999999"
