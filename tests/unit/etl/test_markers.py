"""Cells and rows of printed statistics tables: signs, numbers, notes, summaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from etl.markers import CellReader, RowPatterns, clean_text, parse_source_note
from etl.numbers import number_from_cell
from etl.registry import DEFAULT_END_PATTERNS, DEFAULT_MARKERS, DEFAULT_NOTE_PATTERNS
from etl.registry import DEFAULT_SUMMARY_PATTERNS as SUMMARIES

READER = CellReader(DEFAULT_MARKERS, decimal=",")


@pytest.mark.parametrize(
    ("cell", "kind", "number", "status"),
    [
        (" 649 600", "number", Decimal("649600"), "wert"),
        ("11,3", "number", Decimal("11.3"), "wert"),
        ("1.412", "number", Decimal("1412"), "wert"),
        ("-1348", "number", Decimal("-1348"), "wert"),
        ("x", "marker", None, "gesperrt"),
        (" . ", "marker", None, "unbekannt"),
        ("-", "marker", Decimal("0"), "nichts"),
        ("", "blank", None, None),
        (None, "blank", None, None),
        ("zwölf", "invalid", None, None),
        # typed Excel cells: the shortest decimal that round-trips, not binary noise
        (6.0459140384475525, "number", Decimal("6.0459140384475525"), "wert"),
        (60.6, "number", Decimal("60.6"), "wert"),
        (2494, "number", Decimal("2494"), "wert"),
    ],
)
def test_cells_become_numbers_or_explicit_status(cell, kind, number, status) -> None:
    read = READER.read(cell)
    assert (read.kind, read.number, read.status) == (kind, number, status)


def test_a_sign_is_never_a_number_and_x_never_zero() -> None:
    for symbol in ("x", "."):
        assert READER.read(symbol).number is None


def test_number_from_cell_refuses_booleans_and_nan() -> None:
    for value in (True, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            number_from_cell(value)
    # a float that looks like German thousands stays a float (it is typed, not text)
    assert number_from_cell(6.125) == Decimal("6.125")
    assert number_from_cell("6.125") == Decimal("6125")


def test_clean_text_collapses_whitespace_and_integral_floats() -> None:
    assert clean_text("  Zugezogene  (Außenwanderungen) ") == "Zugezogene (Außenwanderungen)"
    assert clean_text(1.0) == "1"
    assert clean_text(None) == ""


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Veraenderung 2021/2035 absolut", "summary"),
        ("Veränderung 2021/2035 in Prozent", "summary"),
        ("Insgesamt", "summary"),
        ("Quelle: Landeshauptstadt Düsseldorf - Amt für Statistik und Wahlen.", "note"),
        ("Stand: 31.03.2025", "note"),
        ("*Gesamtfläche der ausgesuchten Hauptgruppen", "note"),
        ("1) ohne Nebenwohnsitze", "note"),
        ("Erläuterungen/ Hinweise:", "end"),
        ("01", None),
        ("Insgesamt 2019", None),
        ("Bevölkerung", None),
    ],
)
def test_row_roles_by_first_text(text: str, role: str | None) -> None:
    patterns = RowPatterns(
        notes=DEFAULT_NOTE_PATTERNS, summaries=SUMMARIES, ends=DEFAULT_END_PATTERNS
    )
    assert patterns.role(text) == role


@pytest.mark.parametrize(
    ("text", "source", "as_of"),
    [
        (
            "Quelle: Statistik der Bundesagentur für Arbeit, IT.NRW, eigene Berechnung. "
            "Stand: 31.12.2019",
            "Statistik der Bundesagentur für Arbeit, IT.NRW, eigene Berechnung",
            dt.date(2019, 12, 31),
        ),
        (
            "Quelle:  Landeshauptstadt Düsseldorf - Amt für Statistik und Wahlen.",
            "Landeshauptstadt Düsseldorf - Amt für Statistik und Wahlen",
            None,
        ),
        ("Stand: 01.01.2020", None, dt.date(2020, 1, 1)),
    ],
)
def test_source_notes_are_taken_apart(text: str, source: str | None, as_of) -> None:
    note = parse_source_note(text)
    assert note is not None
    assert (note.source, note.as_of) == (source, as_of)


def test_other_text_is_not_a_source_note() -> None:
    assert parse_source_note("* Prozentwerte jeweils bezogen auf alle Haushalte") is None
