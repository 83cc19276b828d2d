"""German number formats as departments write them.

``11,3`` (decimal comma), ``1.234`` and `` 649 600`` (thousands separated by
points or spaces, often with leading blanks from fixed-width print layouts),
``1.234,5``; also plain ``1234.5`` as Excel writes it when set to English.
Python's ``locale`` module cannot be used: it is process-global and the de_DE
locale is not installed on most servers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Spaces a print layout uses between thousands: normal, no-break, narrow no-break, thin.
_SPACES = re.compile(r"[ \u00a0\u202f\u2009]")
_GROUPED_POINTS = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_GROUPED_COMMAS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?\d+([.,]\d+)?$")


def parse_number(value: str, *, decimal: str = ",") -> Decimal:
    """Parse a number written the German way (or plainly).

    Args:
        value: the cell text.
        decimal: the decimal separator the file uses (``,`` for German files). It
            settles ambiguous cells such as ``1.234`` (one thousand two hundred
            thirty-four with ``,``; one point two three four with ``.``).

    Raises:
        ValueError: the text is not a number.
    """
    text = _SPACES.sub("", value.strip())
    if text.startswith("\u2212"):  # typographic minus from word processors
        text = "-" + text[1:]
    if not text:
        raise ValueError("empty")
    if decimal == "," and _GROUPED_POINTS.match(text):
        text = text.replace(".", "").replace(",", ".")
    elif decimal == "." and _GROUPED_COMMAS.match(text):
        text = text.replace(",", "")
    elif _PLAIN.match(text):
        text = text.replace(",", ".")
    else:
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def parse_int(value: str) -> int:
    """Parse a whole number (``1.234``, `` 649 600``, ``12``).

    Raises:
        ValueError: not a number, or a number with a fractional part.
    """
    number = parse_number(value, decimal=",")
    if number != number.to_integral_value():
        raise ValueError(f"not a whole number: {value!r}")
    return int(number)


def number_from_cell(value: str | int | float, *, decimal: str = ",") -> Decimal:
    """A number from a spreadsheet cell: typed (Excel) or text (CSV, or text in Excel).

    Excel stores numbers as binary floats; ``repr`` gives the shortest decimal that
    round-trips, so ``60.6`` stays ``60.6`` instead of ``60.59999999999999``.
    Text cells are parsed with :func:`parse_number`.

    Raises:
        ValueError: not a number (also NaN, infinity and booleans).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a number: {value!r}")
        return Decimal(repr(value))
    return parse_number(value, decimal=decimal)
