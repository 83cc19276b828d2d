"""German number formats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from etl.numbers import parse_int, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11,3", Decimal("11.3")),
        (" 649 600", Decimal("649600")),
        ("1.234", Decimal("1234")),
        ("1.234,5", Decimal("1234.5")),
        ("-7", Decimal("-7")),
        ("\u22127,5", Decimal("-7.5")),
        ("12\u00a0345", Decimal("12345")),
        ("0", Decimal("0")),
    ],
)
def test_parse_number_german(text: str, expected: Decimal) -> None:
    assert parse_number(text) == expected


def test_parse_number_english_decimal_point_when_declared() -> None:
    assert parse_number("1,234.5", decimal=".") == Decimal("1234.5")
    assert parse_number("1.5", decimal=".") == Decimal("1.5")


@pytest.mark.parametrize("text", ["", "x", ".", "-", "1,2,3", "12a", "1.23.4,5,6"])
def test_parse_number_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_parse_int() -> None:
    assert parse_int(" 1.234") == 1234
    assert parse_int("7,0") == 7
    with pytest.raises(ValueError, match="whole"):
        parse_int("7,5")
