"""Cells and rows of printed statistics tables: markers, notes, summaries.

Tables of a statistics office are made for print. A number cell may hold a sign
instead of a number (``x`` gesperrt, ``.`` unbekannt, ``-`` genau nichts — what
each sign means is the publication's *Zeichenerklärung*, so it comes from the
registry); rows below or between the data are sources (``Quelle: … Stand: …``),
footnotes (``*…``, ``1) …``) or summaries (``Veränderung … absolut``). This
module classifies them; it never turns a sign into a number on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from etl.numbers import number_from_cell
from etl.registry import VALUE_STATUS, Marker

CellValue = str | int | float | bool | None
"""A raw cell: text from CSV, typed values from Excel."""

_SPACES = re.compile(r"\s+")


def clean_text(value: CellValue) -> str:
    """Cell text trimmed with inner whitespace collapsed (``''`` for empty cells)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACES.sub(" ", str(value)).strip()


@dataclass(frozen=True)
class Cell:
    """A number cell as understood.

    ``kind`` is ``blank`` (nothing written), ``number``, ``marker`` (a sign from the
    publication's legend; ``number`` is then the marker's published value, often
    ``None``) or ``invalid`` (text that is neither).
    """

    kind: Literal["blank", "number", "marker", "invalid"]
    number: Decimal | None
    status: str | None
    text: str


class CellReader:
    """Reads number cells with a dataset's markers and decimal separator."""

    def __init__(self, markers: Sequence[Marker], *, decimal: str = ",") -> None:
        self.markers = {m.symbol: m for m in markers}
        self.decimal = decimal

    def read(self, value: CellValue) -> Cell:
        text = clean_text(value)
        if not text:
            return Cell("blank", None, None, "")
        marker = self.markers.get(text)
        if marker is not None:
            number = None if marker.value is None else Decimal(repr(marker.value))
            return Cell("marker", number, marker.status, text)
        try:
            number = number_from_cell(
                value if isinstance(value, (int, float)) else text, decimal=self.decimal
            )
        except ValueError:
            return Cell("invalid", None, None, text)
        return Cell("number", number, VALUE_STATUS, text)


RowRole = Literal["note", "summary", "end"]


class RowPatterns:
    """Recognizes non-data rows by the text of their first filled cell."""

    def __init__(
        self, *, notes: Sequence[str], summaries: Sequence[str], ends: Sequence[str]
    ) -> None:
        self._rules: list[tuple[RowRole, re.Pattern[str]]] = [
            *(("end", re.compile(p, re.IGNORECASE)) for p in ends),
            *(("note", re.compile(p, re.IGNORECASE)) for p in notes),
            *(("summary", re.compile(p, re.IGNORECASE)) for p in summaries),
        ]

    def role(self, first_text: str) -> RowRole | None:
        """``end``, ``note``, ``summary`` or ``None`` for an ordinary row."""
        for role, pattern in self._rules:
            if pattern.search(first_text):
                return role
        return None


@dataclass(frozen=True)
class SourceNote:
    """A ``Quelle: … Stand: TT.MM.JJJJ`` line taken apart."""

    source: str | None
    as_of: dt.date | None


_SOURCE = re.compile(r"^\s*Quelle\s*:?\s*(?P<source>.*)$", re.IGNORECASE | re.DOTALL)
_AS_OF = re.compile(
    r"[.;,]?\s*Stand\s*:?\s*(?P<day>\d{1,2})\.\s*(?P<month>\d{1,2})\.\s*(?P<year>\d{4})\s*\.?\s*$",
    re.IGNORECASE,
)


def parse_source_note(text: str) -> SourceNote | None:
    """Split a source line into source and reference date; ``None`` if it is neither.

    ``"Quelle: IT.NRW, eigene Berechnung. Stand: 31.12.2019"`` gives
    ``("IT.NRW, eigene Berechnung", 2019-12-31)``; ``"Stand: 01.01.2020"`` gives
    ``(None, 2020-01-01)``.
    """
    text = clean_text(text)
    as_of = None
    match = _AS_OF.search(text)
    if match:
        try:
            as_of = dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            as_of = None
        else:
            text = text[: match.start()].strip()
    source_match = _SOURCE.match(text)
    if source_match:
        source = source_match["source"].strip().rstrip(".").strip() or None
        return SourceNote(source, as_of)
    if as_of is not None and not text:
        return SourceNote(None, as_of)
    return None
