"""Tables of the statistics office and department reports, made for print.

The statistical yearbook, district profiles and department reports (such as the
fire brigade's annual report) arrive as CSV exports or Excel workbooks laid out
for people: title rows above the heading, headings over two lines with merged
cells, signs instead of numbers (``x``, ``.``, ``-``), thousands separated by
spaces, decimal commas, sources and footnotes below the data, summary rows
(``Veränderung … absolut``), section headings and ``davon``/``darunter`` groups.

Everything dataset-specific is an option of the registry entry
(:class:`~etl.registry.StatisticsTablesSource`), so a new yearbook table needs a
YAML file and a suite, no code:

1. **read** (``extract``): CSV via :func:`etl.readers.read_delimited` (encoding and
   separator detection), Excel via openpyxl; both become a :class:`Grid` of the
   non-blank rows with their line (CSV) or sheet row (Excel) numbers.
2. **find the heading**: the first row naming every required column (title rows
   above it are kept as notes); ``header_rows`` heading lines are combined, merged
   and blank upper cells filled from the left.
3. **classify rows**: ``end_patterns`` stop reading, ``note_patterns`` are sources
   and footnotes, ``summary_patterns`` are sums or changes: none of them is data.
   With ``sections``, label-only rows become section headings or groups.
4. **parse cells**: codes stay text and are zero-padded, numbers are read the
   German way, markers become an explicit status (never a 0 unless the marker
   says so, as ``-`` = genau nichts does) and anything else is a problem with
   file, row and column.
5. **reshape and protect**: ``wide_to_long`` turns one column per year/variant/area
   into rows; ``privacy`` suppresses or rounds counts; helper columns for the
   suite (``totals``, ``sequences``) are added; duplicates across files dropped.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd

from etl import filetypes
from etl.archives import check_members
from etl.errors import ConfigError, InputError, Problem
from etl.markers import Cell, CellReader, CellValue, RowPatterns, clean_text, parse_source_note
from etl.readers import normalize_header, read_bytes, read_delimited
from etl.registry import (
    SUPPRESSED_STATUS,
    VALUE_STATUS,
    Dataset,
    StatisticsTablesSource,
    TableField,
)
from etl.sources.base import InputFile, Tidy, load_raw_records, save_raw_records
from etl.xmlsafety import check_xml, is_xml_name

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
LOCATION = ["_file", "_line", "_column"]
_STARRED = "_starred"


@dataclass
class Grid:
    """The non-blank rows of one table as delivered (CSV text or typed Excel cells).

    ``lines[i]`` is the physical line (CSV) or sheet row (Excel) of ``rows[i]``;
    a gap between consecutive numbers means blank rows in between. ``merged``
    lists merged Excel ranges as ``[min_row, min_col, max_row, max_col]``
    (1-based). ``location`` names the table in problems (file, and sheet).
    """

    source: str
    location: str
    kind: str
    rows: list[list[CellValue]]
    lines: list[int]
    encoding: str
    sha256: str
    merged: list[list[int]] = field(default_factory=list)
    sheet: str | None = None


# --------------------------------------------------------------------------- extract


def extract(dataset: Dataset, paths: Sequence[Path]) -> list[Grid]:
    """Read every file into a :class:`Grid` (InputError if one is unreadable)."""
    source = _options(dataset)
    return [
        read_excel_grid(path, source)
        if path.suffix.lower() in EXCEL_SUFFIXES
        else read_text_grid(path, source)
        for path in paths
    ]


def read_text_grid(path: Path, source: StatisticsTablesSource) -> Grid:
    """A delimited text file as a grid (the reader's header line is the first row)."""
    raw = read_delimited(
        path, encoding=source.encoding, delimiter=source.delimiter, max_bytes=source.max_bytes
    )
    rows: list[list[CellValue]] = [list(raw.header)]
    rows.extend(list(row) for row in raw.rows)
    return Grid(
        source=raw.source,
        location=raw.source,
        kind="text",
        rows=rows,
        lines=[raw.header_line, *raw.lines],
        encoding=raw.encoding,
        sha256=raw.sha256,
    )


def read_excel_grid(path: Path, source: StatisticsTablesSource) -> Grid:
    """One sheet of an Excel workbook as a grid of typed cells.

    Before openpyxl sees the workbook, :func:`check_workbook` makes sure it is a
    plain ``.xlsx`` within the archive limits, without macros and without DTDs.

    Raises:
        InputError: not a readable .xlsx workbook (encrypted, old .xls, with macros,
            a zip bomb, unsafe XML), or the sheet does not exist.
    """
    import hashlib
    import io

    import openpyxl

    data = read_bytes(path, max_bytes=source.max_bytes)
    check_workbook(data, name=path.name, source=source)
    try:
        # not read_only: merged cells are only available on full worksheets
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except _OPENPYXL_INPUT_ERRORS:
        raise InputError(
            "keine lesbare Excel-Arbeitsmappe (.xlsx): die Datei ist beschädigt oder kein "
            "Excel-Format; bitte in Excel öffnen und neu als .xlsx oder CSV speichern",
            file=path.name,
        ) from None
    try:
        if source.sheet is None:
            sheet = workbook.worksheets[0]
        elif isinstance(source.sheet, int):
            sheet = workbook.worksheets[source.sheet]
        else:
            sheet = workbook[source.sheet]
    except (IndexError, KeyError):
        raise InputError(
            f"Tabellenblatt {source.sheet!r} fehlt; vorhanden: {', '.join(workbook.sheetnames)}",
            file=path.name,
        ) from None

    rows: list[list[CellValue]] = []
    lines: list[int] = []
    for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
        values = [_excel_value(value) for value in cells]
        if any(clean_text(value) for value in values):
            rows.append(values)
            lines.append(number)
    merged = [[r.min_row, r.min_col, r.max_row, r.max_col] for r in sheet.merged_cells.ranges]
    workbook.close()
    return Grid(
        source=path.name,
        location=f"{path.name}, Blatt {sheet.title}",
        kind="excel",
        rows=rows,
        lines=lines,
        encoding="xlsx",
        sha256=hashlib.sha256(data).hexdigest(),
        merged=sorted(merged),
        sheet=sheet.title,
    )


# What openpyxl raises on a damaged workbook (a bug in our code would raise something
# else and keep its traceback). ValueError covers its "invalid XML" wrapper.
_OPENPYXL_INPUT_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    OSError,
    EOFError,
    zlib.error,
    ElementTree.ParseError,
)


def check_workbook(data: bytes, *, name: str, source: StatisticsTablesSource) -> None:
    """Refuse a workbook that openpyxl must not open.

    * not a zip at all: an encrypted workbook (OLE2 container), an old ``.xls``, or
      something else with an Excel ending, each named as what it is;
    * a zip beyond the dataset's archive limits (checked on the zip's directory, so
      a zip bomb is refused before openpyxl inflates anything);
    * macros (a VBA project, also hidden in an ``.xlsx``): never run here, but a
      macro workbook is not what a department publishes, and the file goes on to
      other people;
    * any XML part with a DTD or entity declaration (billion laughs, XXE).

    Raises:
        InputError: with what the workbook is and what to do instead.
    """
    signature = filetypes.identify(data[: filetypes.HEAD_BYTES])
    if signature is not None and signature.kind == "ole2":
        kind = filetypes.ole2_kind(data)
        if kind == "encrypted":
            raise InputError(
                "die Arbeitsmappe ist passwortgeschützt (verschlüsselt) und kann nicht gelesen "
                "werden; bitte den Kennwortschutz entfernen (Datei › Informationen › "
                "Arbeitsmappe schützen) und erneut liefern",
                file=name,
            )
        raise InputError(
            "das ist eine Excel-Datei im alten Format (Excel 97–2003, .xls) oder ein anderes "
            "Office-Dokument; bitte in Excel als .xlsx (Excel-Arbeitsmappe) oder CSV speichern",
            file=name,
        )
    if signature is None or signature.kind != "zip":
        what = signature.description if signature else "keine ZIP-Datei (z. B. Text)"
        raise InputError(
            f"keine lesbare Excel-Arbeitsmappe (.xlsx): die Datei ist {what}; bitte in Excel "
            "als .xlsx oder CSV speichern",
            file=name,
        )
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise InputError(
            "keine lesbare Excel-Arbeitsmappe (.xlsx): die Datei ist beschädigt oder "
            "unvollständig (abgeschnitten?); bitte in Excel neu als .xlsx speichern",
            file=name,
        ) from None
    with archive:
        members = check_members(
            archive,
            name=name,
            max_bytes=source.max_uncompressed_bytes,
            max_ratio=source.max_compression_ratio,
        )
        entries = [info.filename for info, _ in members]
        macros = [e for e in entries if _MACRO_PARTS.search(e)]
        content_types = next((e for e in entries if e == "[Content_Types].xml"), None)
        if not macros and content_types is not None:
            # the content type of a macro workbook is declared in its first lines
            with archive.open(content_types) as handle:
                if b"macroEnabled" in handle.read(1 << 20):
                    macros = [content_types]
        if macros:
            raise InputError(
                f"die Arbeitsmappe enthält Makros (VBA-Projekt: {macros[0]}); Arbeitsmappen mit "
                "Makros werden nicht verarbeitet – bitte als .xlsx ohne Makros speichern "
                "(Datei › Speichern unter › Excel-Arbeitsmappe)",
                file=name,
            )
        for info, _ in members:
            try:
                # by name or by content: VML drawings and custom parts are XML too
                with archive.open(info) as handle:
                    xml = is_xml_name(info.filename) or filetypes.looks_like_xml(
                        handle.read(filetypes.HEAD_BYTES)
                    )
                if xml:
                    with archive.open(info) as handle:
                        check_xml(handle, file=name, part=info.filename)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise InputError(
                    f"der Teil {info.filename!r} der Arbeitsmappe ist nicht lesbar ({exc}); "
                    "die Datei ist beschädigt oder unvollständig",
                    file=name,
                ) from None


# VBA projects (xl/vbaProject.bin, also under other names in customUI or embedded
# parts), macro sheets of Excel 4 (xl/macrosheets/) and dialog sheets.
_MACRO_PARTS = re.compile(r"(?i)(vbaProject[^/]*\.bin$|/macrosheets/|/dialogsheets/)")


def _excel_value(value: Any) -> CellValue:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):  # dates and times
        return str(value.isoformat())
    return str(value)


def save_raws(raws: list[Grid], directory: Path) -> list[Path]:
    """Persist grids as JSON (typed cells survive: JSON has strings and numbers)."""
    return save_raw_records(raws, directory)


def load_raws(paths: Sequence[Path]) -> list[Grid]:
    """Inverse of :func:`save_raws`."""
    return load_raw_records(Grid, paths)


# --------------------------------------------------------------------------- transform


def _options(dataset: Dataset) -> StatisticsTablesSource:
    source = dataset.source
    if not isinstance(source, StatisticsTablesSource):
        raise ConfigError(f"{dataset.id} is not a statistics_tables dataset")
    return source


def header_key(text: str) -> str:
    """Comparable form of a heading (see :func:`etl.readers.normalize_header`)."""
    return re.sub(r"_+", "_", normalize_header(text))


def transform(dataset: Dataset, raws: list[Grid]) -> Tidy:
    """Build the published table from all grids; collect problems, never raise on data.

    Raises:
        ConfigError: the registry's documented columns differ from what the options
            produce (an operator must fix the registry).
    """
    source = _options(dataset)
    published = [c.name for c in dataset.columns]
    if sorted(published) != sorted(source.published_columns()):
        raise ConfigError(
            f"{dataset.id}: documented columns {sorted(published)} differ from the "
            f"columns the source options produce {sorted(source.published_columns())}"
        )
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    notes: dict[str, Any] = {
        "headers": {},
        "titles": {},
        "summary_rows": {},
        "ignored_columns": {},
    }
    facts: dict[str, list[str]] = {"quelle": [], "stand": [], "hinweise": []}
    for grid in raws:
        table = _Table(source, grid, problems)
        records.extend(table.build())
        notes["headers"][grid.location] = table.headers
        if table.titles:
            notes["titles"][grid.location] = table.titles
        if table.summaries:
            notes["summary_rows"][grid.location] = table.summaries
        if table.ignored:
            notes["ignored_columns"][grid.location] = table.ignored
        for key, values in table.facts.items():
            facts[key].extend(v for v in values if v not in facts[key])

    frame = _frame(source, published, records)
    frame = _protect(source, frame)
    frame = _helpers(source, frame)
    if source.drop_duplicates:
        frame = frame.drop_duplicates(subset=published, keep="first")
    if source.sort_by:
        frame = frame.sort_values(source.sort_by, na_position="last", kind="mergesort")
    frame = frame.reset_index(drop=True)

    notes["cell_columns"] = _cell_columns(source)
    package = {key: values for key, values in facts.items() if values}
    if package:
        notes["package"] = {
            key: values[0] if len(values) == 1 else values for key, values in package.items()
        }
    return Tidy(
        frame=frame,
        problems=problems,
        inputs=[InputFile(grid.source, grid.sha256) for grid in raws],
        notes=notes,
    )


def _cell_columns(source: StatisticsTablesSource) -> list[str]:
    """Published columns whose source column differs per row (``_column`` names it)."""
    if not source.wide_to_long:
        return []
    wide = source.wide_to_long
    columns = [level.name for level in wide.levels]
    columns += [level.code.name for level in wide.levels if level.code]
    columns.append(wide.value.name)
    if wide.value.status:
        columns.append(wide.value.status)
    return columns


@dataclass
class _Column:
    index: int
    label: str
    levels: list[str]


class _Table:
    """One grid turned into records of published columns."""

    def __init__(self, source: StatisticsTablesSource, grid: Grid, problems: list[Problem]) -> None:
        self.source = source
        self.grid = grid
        self.problems = problems
        self.reader = CellReader(source.markers, decimal=source.decimal)
        self.patterns = RowPatterns(
            notes=source.note_patterns,
            summaries=source.summary_patterns,
            ends=source.end_patterns,
        )
        self.headers: dict[str, str] = {}
        self.titles: list[str] = []
        self.summaries: list[int] = []
        self.ignored: list[str] = []
        self.facts: dict[str, list[str]] = {"quelle": [], "stand": [], "hinweise": []}
        self.records: list[dict[str, Any]] = []
        # sections state
        self.section: str | None = None
        self.group: str | None = None
        self.last_total: str | None = None
        self.block: list[dict[str, Any]] = []
        self.pending: list[str] = []

    # ------------------------------------------------------------------ helpers

    def problem(self, check: str, message: str, **where: Any) -> None:
        self.problems.append(
            Problem(check=check, message=message, file=self.grid.location, **where)
        )

    def _letter(self, index: int) -> str:
        from openpyxl.utils import get_column_letter

        return str(get_column_letter(index + 1))

    def _label(self, index: int, header: str) -> str:
        if self.grid.kind != "excel":
            return header or f"Spalte {index + 1}"
        return f"{header} ({self._letter(index)})" if header else self._letter(index)

    # ------------------------------------------------------------------ heading

    def _find_header(self) -> int | None:
        """The first row naming every required column, else the one naming most of them.

        A heading that lacks a required column still counts as the heading, so the
        problem says which column is missing instead of "no heading found".
        """
        rows = self.grid.rows
        depth = self.source.header_rows
        named = [f for f in self.source.fields if f.position is None and f.required]
        best: tuple[int, int] | None = None
        for start in range(len(rows) - depth + 1):
            texts = [clean_text(c) for row in rows[start : start + depth] for c in row]
            if not named:
                if sum(1 for c in rows[start] if clean_text(c)) >= 2:
                    return start
                continue
            keys = {header_key(t) for t in texts if t}
            found = sum(
                1 for f in named if any(header_key(h) in keys for h in f.accepted_headers())
            )
            if found == len(named):
                return start
            if found and (best is None or found > best[0]):
                best = (found, start)
        return best[1] if best else None

    def _columns(self, start: int) -> list[_Column]:
        depth = self.source.header_rows
        header_rows = self.grid.rows[start : start + depth]
        width = max(len(row) for row in self.grid.rows)
        levels = [
            [clean_text(row[j]) if j < len(row) else "" for j in range(width)]
            for row in header_rows
        ]
        by_line = dict(zip(self.grid.lines, self.grid.rows, strict=True))
        for level, line in enumerate(self.grid.lines[start : start + depth]):
            for min_row, min_col, max_row, max_col in self.grid.merged:
                if not min_row <= line <= max_row:
                    continue
                anchor = by_line.get(min_row, [])
                text = clean_text(anchor[min_col - 1]) if min_col - 1 < len(anchor) else ""
                for j in range(min_col - 1, min(max_col, width)):
                    levels[level][j] = levels[level][j] or text
        # an upper heading spans the columns to its right that have a lower heading
        for level in range(depth - 1):
            for j in range(1, width):
                if not levels[level][j] and levels[-1][j] and levels[level][j - 1]:
                    levels[level][j] = levels[level][j - 1]
        columns = []
        for j in range(width):
            parts = [levels[level][j] for level in range(depth)]
            label = " / ".join(p for p in parts if p)
            columns.append(_Column(index=j, label=self._label(j, label), levels=parts))
        return columns

    def _map_fields(self, columns: list[_Column], header_line: int) -> dict[str, _Column] | None:
        mapping: dict[str, _Column] = {}
        missing: list[TableField] = []
        for table_field in self.source.fields:
            if table_field.position is not None:
                if table_field.position <= len(columns):
                    mapping[table_field.name] = columns[table_field.position - 1]
                elif table_field.required:
                    missing.append(table_field)
                continue
            wanted = {header_key(h) for h in table_field.accepted_headers()}
            found = [
                c
                for c in columns
                if wanted
                & {header_key(" ".join(p for p in c.levels if p)), *map(header_key, c.levels)}
            ]
            if len(found) > 1:
                self.problem(
                    "Kopfzeile",
                    f"Spalte für '{table_field.name}' kommt mehrfach vor: "
                    + ", ".join(c.label for c in found),
                    row=header_line,
                    column=found[1].label,
                    found=", ".join(c.label for c in found),
                    expected="jede Spalte nur einmal",
                )
                return None
            if found:
                mapping[table_field.name] = found[0]
            elif table_field.required:
                missing.append(table_field)
        if missing:
            self.problem(
                "Kopfzeile",
                "Pflichtspalte fehlt: "
                + ", ".join(" / ".join(f.accepted_headers()) for f in missing),
                row=header_line,
                column=", ".join(f.accepted_headers()[0] for f in missing),
                found=", ".join(c.label for c in columns if any(c.levels)),
                expected="Spalten "
                + ", ".join(f.accepted_headers()[0] for f in self.source.fields if f.required),
            )
            return None
        return mapping

    # ------------------------------------------------------------------ rows

    def build(self) -> list[dict[str, Any]]:
        start = self._find_header()
        if start is None:
            self.problem(
                "Kopfzeile",
                "Kopfzeile nicht gefunden: keine Zeile enthält alle Pflichtspalten",
                expected="Spalten "
                + ", ".join(f.accepted_headers()[0] for f in self.source.fields if f.required),
            )
            return []
        self.titles = [
            " ".join(clean_text(c) for c in row if clean_text(c)) for row in self.grid.rows[:start]
        ]
        depth = self.source.header_rows
        header_line = self.grid.lines[start + depth - 1]
        columns = self._columns(start)
        mapping = self._map_fields(columns, self.grid.lines[start])
        if mapping is None:
            return []
        self.headers = {name: column.label for name, column in mapping.items()}
        for table_field in self.source.fields:
            if table_field.status and table_field.name in mapping:
                self.headers[table_field.status] = mapping[table_field.name].label
        # helper columns are reported under the heading of the column they check
        for total in self.source.totals:
            self.headers[total.helper] = self.headers.get(total.column, total.column)
        for sequence in self.source.sequences:
            self.headers[sequence.helper] = self.headers.get(sequence.column, sequence.column)
        used = {c.index for c in mapping.values()}
        headed = [c for c in columns if c.index not in used and any(c.levels)]
        # without wide_to_long, extra headed columns are not published (a department
        # may add a remark column); with it, they are the values to turn into rows
        values = headed if self.source.wide_to_long else []
        self.ignored = [] if self.source.wide_to_long else [c.label for c in headed]
        known = used | {c.index for c in headed}
        label_field = next((f for f in self.source.fields if f.type == "text"), None)

        previous = header_line
        rows, lines = self.grid.rows, self.grid.lines
        for i in range(start + depth, len(rows)):
            row, line = rows[i], lines[i]
            gap_before = line > previous + 1
            previous = line
            gap_after = i + 1 >= len(rows) or lines[i + 1] > line + 1
            texts = [clean_text(c) for c in row]
            first = next((t for t in texts if t), "")
            role = self.patterns.role(first)
            if role == "end":
                break
            if role == "note":
                self._note(first)
                continue
            if role == "summary":
                self.summaries.append(line)
                continue
            if self.source.sections and label_field is not None:
                label_index = mapping[label_field.name].index
                others = [t for j, t in enumerate(texts) if t and j != label_index]
                if gap_before:
                    self.group = None
                if not others and label_index < len(texts) and texts[label_index]:
                    self._heading(texts[label_index], line, gap_after)
                    continue
            elif sum(1 for t in texts if t) == 1 and not re.fullmatch(r"[\d\s.,+\-]+", first):
                self.problem(
                    "Zeilenaufbau",
                    "Zeile enthält nur Text und keine Werte",
                    row=line,
                    found=first[:200],
                    expected="eine Datenzeile, eine Fußnote (Quelle:, Stand:, *) oder "
                    "eine Summenzeile (Veränderung …)",
                )
                continue
            stray = [j for j, t in enumerate(texts) if t and j not in known]
            if stray:
                j = stray[0]
                self.problem(
                    "Zeilenaufbau",
                    "Wert in einer Spalte ohne Überschrift",
                    row=line,
                    column=self._label(j, ""),
                    found=texts[j][:200],
                    expected="Werte nur in Spalten mit Überschrift",
                )
                continue
            self._data_row(row, line, mapping, values, label_field)
        self._flush_block()
        return self.records

    def _note(self, text: str) -> None:
        source_note = parse_source_note(text)
        if self.source.sections:
            if source_note is not None:
                self._flush_block(
                    source_note.source, source_note.as_of.isoformat() if source_note.as_of else None
                )
            else:
                self.pending.append(text)
            return
        if source_note is not None:
            if source_note.source and source_note.source not in self.facts["quelle"]:
                self.facts["quelle"].append(source_note.source)
            if source_note.as_of and source_note.as_of.isoformat() not in self.facts["stand"]:
                self.facts["stand"].append(source_note.as_of.isoformat())
        else:
            self.facts["hinweise"].append(text.lstrip("* ").strip())

    def _heading(self, text: str, line: int, gap_after: bool) -> None:
        sections = self.source.sections
        assert sections is not None
        label = text.rstrip("*: ").strip()
        if self._merged_across(line):
            # a text merged over the value columns is an explanation, not a heading
            self._note(text)
        elif gap_after:
            self.section, self.group, self.last_total = label, None, None
        else:
            words = [w.casefold() for w in sections.group_words]
            first_word = label.split(" ", 1)[0].casefold()
            if first_word in words and self.last_total:
                self.group = f"{self.last_total}, {label}"
            else:
                self.group = label

    def _merged_across(self, line: int) -> bool:
        return any(
            min_row <= line <= max_row and max_col > min_col
            for min_row, min_col, max_row, max_col in self.grid.merged
        )

    def _flush_block(self, quelle: str | None = None, stand: str | None = None) -> None:
        sections = self.source.sections
        if sections is None:
            return
        for record in self.block:
            if sections.source and record[sections.source] is None:
                record[sections.source] = quelle
            if sections.as_of and record[sections.as_of] is None:
                record[sections.as_of] = stand
            if sections.note:
                texts = [
                    note.lstrip("* ").strip()
                    for note in self.pending
                    if not note.startswith("*") or record[_STARRED]
                ]
                if texts:
                    record[sections.note] = " ".join(
                        t for t in [record[sections.note], *texts] if t
                    )
        self.block = []
        self.pending = []

    def _data_row(
        self,
        row: list[CellValue],
        line: int,
        mapping: dict[str, _Column],
        values: list[_Column],
        label_field: TableField | None,
    ) -> None:
        def cell(column: _Column) -> CellValue:
            return row[column.index] if column.index < len(row) else None

        base: dict[str, Any] = {"_file": self.grid.location, "_line": line, "_column": None}
        starred = False
        for table_field in self.source.fields:
            column = mapping.get(table_field.name)
            raw = cell(column) if column else None
            if column is None:
                base[table_field.name] = None
                if table_field.status:
                    base[table_field.status] = None
                continue
            if table_field.type == "code":
                base[table_field.name] = self._code(raw, table_field, column.label, line)
            elif table_field.type == "text":
                text = clean_text(raw)
                if table_field is label_field and self.source.sections:
                    starred = text.endswith("*")
                    text = text.rstrip("* ").strip()
                base[table_field.name] = text or None
                if not text and table_field.required:
                    self._blank(table_field, column.label, line, "ein Text")
            else:
                value, status = self._number(self.reader.read(raw), table_field, column.label, line)
                base[table_field.name] = value
                if table_field.status:
                    base[table_field.status] = status

        sections = self.source.sections
        if sections:
            base[sections.section] = self.section
            base[sections.group] = self.group
            for name in (sections.source, sections.as_of, sections.note):
                if name:
                    base[name] = None
            base[_STARRED] = starred

        wide = self.source.wide_to_long
        if wide is None:
            self.records.append(base)
            self.block.append(base)
            return
        if values and label_field is not None and clean_text(cell(values[0])):
            self.last_total = base[label_field.name]
        for column in values:
            parsed = self.reader.read(cell(column))
            if parsed.kind == "blank" and wide.blank == "skip":
                continue
            value, status = self._number(parsed, wide.value, column.label, line)
            record = dict(base)
            record["_column"] = column.label
            for level, text in zip(wide.levels, column.levels, strict=True):
                mapped = {k.strip().casefold(): v for k, v in level.values.items()}
                record[level.name] = mapped.get(text.casefold(), text) or None
                if level.code:
                    match = re.search(level.code.pattern, text)
                    record[level.code.name] = (
                        match.group(1).zfill(level.code.width) if match else None
                    )
            record[wide.value.name] = value
            if wide.value.status:
                record[wide.value.status] = status
            self.records.append(record)
            self.block.append(record)

    # ------------------------------------------------------------------ cells

    def _blank(self, table_field: TableField, label: str, line: int, expected: str) -> None:
        self.problem(
            "Pflichtwert",
            f"'{label}' ist leer",
            row=line,
            column=label,
            found="",
            expected=expected,
        )

    def _code(self, raw: CellValue, table_field: TableField, label: str, line: int) -> str | None:
        text = clean_text(raw)
        width = table_field.width or 1
        example = "1".zfill(width)
        if not text:
            if table_field.required:
                self._blank(table_field, label, line, f"ein Code, z. B. {example}")
            return None
        if not text.isdigit():
            self.problem(
                "Code",
                f"'{label}' ist kein gültiger Code",
                row=line,
                column=label,
                found=text,
                expected=f"ein Code aus {width} Ziffern, z. B. {example}",
            )
            return None
        if len(text) > width:
            self.problem(
                "Code",
                f"'{label}' hat mehr als {width} Stellen",
                row=line,
                column=label,
                found=text,
                expected=f"ein Code aus {width} Ziffern, z. B. {example}",
            )
            return None
        return text.zfill(width)

    def _number(
        self, cell: Cell, table_field: TableField, label: str, line: int
    ) -> tuple[Decimal | None, str | None]:
        signs = ", ".join(f"'{m.symbol}'" for m in self.source.markers)
        expected = "eine ganze Zahl" if table_field.type == "integer" else "eine Zahl"
        if table_field.status and signs:
            expected += f" oder eines der Zeichen {signs}"
        if cell.kind == "blank":
            self._blank(table_field, label, line, expected)
            return None, None
        if cell.kind == "invalid":
            self.problem(
                "Zahlenformat",
                f"'{label}' ist keine Zahl",
                row=line,
                column=label,
                found=cell.text,
                expected=expected,
            )
            return None, None
        if cell.kind == "marker" and not table_field.status:
            marker = next(m for m in self.source.markers if m.symbol == cell.text)
            self.problem(
                "Zeichen",
                f"'{label}' enthält das Zeichen '{cell.text}' ({marker.meaning}); in dieser "
                "Spalte ist kein Zeichen vorgesehen",
                row=line,
                column=label,
                found=cell.text,
                expected=expected,
            )
            return None, None
        number = cell.number
        if number is not None and table_field.type == "integer":
            if number != number.to_integral_value():
                self.problem(
                    "Zahlenformat",
                    f"'{label}' ist keine ganze Zahl",
                    row=line,
                    column=label,
                    found=cell.text,
                    expected=expected,
                )
                return None, None
        elif number is not None and table_field.decimals is not None:
            number = number.quantize(Decimal(1).scaleb(-table_field.decimals), ROUND_HALF_UP)
        return number, cell.status


# --------------------------------------------------------------------------- frame


def _frame(
    source: StatisticsTablesSource, published: list[str], records: list[dict[str, Any]]
) -> pd.DataFrame:
    types: dict[str, str] = {}
    for table_field in source.fields:
        types[table_field.name] = table_field.type
        if table_field.status:
            types[table_field.status] = "text"
    if source.wide_to_long:
        types[source.wide_to_long.value.name] = source.wide_to_long.value.type
    columns: dict[str, Any] = {}
    for name in published:
        data = [record.get(name) for record in records]
        kind = types.get(name, "text")
        if kind == "integer":
            columns[name] = pd.array([None if v is None else int(v) for v in data], dtype="Int64")
        elif kind == "number":
            columns[name] = pd.array(
                [float("nan") if v is None else float(v) for v in data], dtype="float64"
            )
        else:
            columns[name] = pd.array(data, dtype="string")
    columns["_file"] = pd.array([r["_file"] for r in records], dtype="string")
    columns["_line"] = pd.array([r["_line"] for r in records], dtype="Int64")
    columns["_column"] = pd.array([r["_column"] for r in records], dtype="string")
    return pd.DataFrame(columns)


def _status_of(source: StatisticsTablesSource, column: str) -> str | None:
    return next((f.status for f in source.value_fields() if f.name == column), None)


def _protect(source: StatisticsTablesSource, frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the confidentiality rule (``verify`` leaves the data to the suite)."""
    privacy = source.privacy
    if privacy is None or privacy.mode != "apply" or frame.empty:
        return frame
    frame = frame.copy()
    for column in privacy.columns:
        status = _status_of(source, column)
        assert status is not None  # the registry model requires a status column
        values = frame[column]
        delivered = frame[status] == VALUE_STATUS
        if privacy.min_count is not None:
            small = (delivered & (values > 0) & (values < privacy.min_count)).fillna(False)
            frame.loc[small, column] = pd.NA
            frame.loc[small, status] = SUPPRESSED_STATUS
        if privacy.round_to is not None and column not in privacy.exact_columns:
            step = privacy.round_to
            keep = (frame[status] == VALUE_STATUS).fillna(False) & frame[column].notna()
            # half up, in integers: floats would round 1.5 * step the banker's way
            frame.loc[keep, column] = (frame.loc[keep, column] * 2 + step) // (2 * step) * step
    return frame


def _helpers(source: StatisticsTablesSource, frame: pd.DataFrame) -> pd.DataFrame:
    """Helper columns the suite checks: sums of parts and steps between years."""
    if not source.totals and not source.sequences:
        return frame
    frame = frame.copy()
    for total in source.totals:
        parts = frame[total.parts]
        frame[total.helper] = parts.sum(axis=1, min_count=len(total.parts)).where(
            parts.notna().all(axis=1)
        )
        if frame[total.column].dtype == "Int64":
            frame[total.helper] = frame[total.helper].astype("Int64")
    for sequence in source.sequences:
        ordered = frame.sort_values([*sequence.within, sequence.column], kind="mergesort")
        if sequence.within:
            steps = ordered.groupby(sequence.within, dropna=False)[sequence.column].diff()
        else:
            steps = ordered[sequence.column].diff()
        frame[sequence.helper] = steps.reindex(frame.index)
    return frame
