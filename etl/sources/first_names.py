"""Newborn first names from the registry office (Standesamt).

The office delivers, per year, either

* per-gender lists ``Name;Anzahl`` whose file name says ``weiblich`` or
  ``maennlich``/``männlich`` (the gender is not in the rows), or
* ranked lists ``Vorname;geschlecht;position;Anzahl`` where ``position`` is which
  given name (1st, 2nd, …) the count refers to.

Other cities' lists (``vorname,anzahl,geschlecht``) have the same meaning, so
columns are found by header name with a few aliases, never by position. The year
comes from a ``Jahr`` column when there is one, else from the 4-digit year in the
file name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from etl.errors import Problem
from etl.numbers import parse_int
from etl.readers import RawTable, normalize_header, read_delimited
from etl.registry import Dataset, FirstNamesSource
from etl.sources.base import InputFile, Tidy, load_raw_tables, save_raw_tables

COLUMNS = ["jahr", "vorname", "geschlecht", "position", "anzahl"]

# normalised header -> published column
HEADER_ALIASES: dict[str, str] = {
    "vorname": "vorname",
    "vornamen": "vorname",
    "name": "vorname",
    "first_name": "vorname",
    "firstname": "vorname",
    "anzahl": "anzahl",
    "anz": "anzahl",
    "haeufigkeit": "anzahl",
    "count": "anzahl",
    "geschlecht": "geschlecht",
    "geschl": "geschlecht",
    "sex": "geschlecht",
    "gender": "geschlecht",
    "position": "position",
    "namensposition": "position",
    "pos": "position",
    "jahr": "jahr",
    "year": "jahr",
    "geburtsjahr": "jahr",
}

GENDER_VALUES: dict[str, str] = {
    "w": "w",
    "weiblich": "w",
    "f": "w",
    "female": "w",
    "m": "m",
    "maennlich": "m",
    "männlich": "m",
    "male": "m",
    "d": "d",
    "divers": "d",
}

# Words in file names that give the gender of a per-gender list.
_FILE_GENDER = [
    (re.compile(r"weiblich|maedchen|mädchen"), "w"),
    (re.compile(r"maennlich|männlich|jungen|knaben"), "m"),
    (re.compile(r"divers"), "d"),
]
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
# Apostrophe look-alikes that word processors and keyboards produce; published as '.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u00b4": "'", "`": "'", "\u2018": "'"})
_SPACES = re.compile(r"\s+")


def extract(dataset: Dataset, paths: Sequence[Path]) -> list[RawTable]:
    """Read every file as a delimited table (InputError if one is unreadable)."""
    source = dataset.source
    assert isinstance(source, FirstNamesSource)
    raws = []
    for path in paths:
        raw = read_delimited(
            path, encoding=source.encoding, delimiter=source.delimiter, max_bytes=source.max_bytes
        )
        raw.meta["file_year"] = _years_in_name(path.name)
        raw.meta["file_gender"] = _genders_in_name(path.name)
        raws.append(raw)
    return raws


save_raws = save_raw_tables
load_raws = load_raw_tables


def partition_key(name: str) -> str | None:
    """Year(s) and gender(s) a file covers, from its name (``2021-m``; ``2022`` for a
    ranked list of all genders); ``None`` when the name has no year.

    A file dropped into the folder of a first-names dataset replaces the file of the
    same year and gender and leaves the other years alone.
    """
    years = _years_in_name(name)
    if not years:
        return None
    genders = "".join(_genders_in_name(name))
    return "+".join(str(y) for y in years) + (f"-{genders}" if genders else "")


def _years_in_name(name: str) -> list[int]:
    return sorted({int(match) for match in _YEAR_IN_NAME.findall(name)})


def _genders_in_name(name: str) -> list[str]:
    folded = unicodedata.normalize("NFC", name).casefold()
    return [code for pattern, code in _FILE_GENDER if pattern.search(folded)]


def normalize_name(value: str) -> str:
    """Trim, collapse inner whitespace and unify apostrophe look-alikes."""
    return _SPACES.sub(" ", value.translate(_APOSTROPHES)).strip()


def transform(dataset: Dataset, raws: list[RawTable]) -> Tidy:
    """Build the tidy table ``jahr, vorname, geschlecht, position, anzahl``.

    Cells that cannot be parsed become missing values and are reported as problems
    with file, line, column and the text found.
    """
    frames: list[pd.DataFrame] = []
    problems: list[Problem] = []
    for raw in raws:
        frame = _transform_one(raw, problems)
        if frame is not None:
            frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    source = dataset.source
    assert isinstance(source, FirstNamesSource)
    frame, withheld = _withhold_rare(frame, source.withhold_below)
    frame = frame.sort_values(
        ["jahr", "geschlecht", "position", "anzahl", "vorname", "_file", "_line"],
        ascending=[True, True, True, False, True, True, True],
        na_position="first",
        kind="mergesort",
    ).reset_index(drop=True)
    return Tidy(
        frame=frame,
        problems=problems,
        inputs=[InputFile(raw.source, raw.sha256) for raw in raws],
        notes={
            "headers": {raw.source: raw.meta.get("headers", {}) for raw in raws},
            "withheld_rows": withheld,
        },
    )


def _below_threshold(frame: pd.DataFrame, thresholds: dict[str, int]) -> pd.Series:
    """Rows with a valid count (≥ 1) below the threshold of their gender.

    Counts below 1 are invalid data, not rare names: the suite must report them.
    """
    threshold = pd.array(
        [thresholds.get(g, 1) if isinstance(g, str) else 1 for g in frame["geschlecht"]],
        dtype="Int64",
    )
    counts = frame["anzahl"]
    below = counts.notna() & (counts >= 1) & (counts < threshold)
    return below.fillna(False).astype(bool)


def _withhold_rare(frame: pd.DataFrame, thresholds: dict[str, int]) -> tuple[pd.DataFrame, int]:
    """Drop rows whose count is below their gender's threshold (privacy rule).

    Suppressing the count alone would still publish the name, so the whole row goes.
    The helper column ``_unter_schwelle`` evaluates the rule again on what remains,
    so the suite checks the output itself, not this function's intent.
    """
    below = _below_threshold(frame, thresholds)
    kept = frame[~below].copy()
    kept["_unter_schwelle"] = _below_threshold(kept, thresholds)
    return kept, int(below.sum())


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "jahr": pd.array([], dtype="Int64"),
            "vorname": pd.array([], dtype="string"),
            "geschlecht": pd.array([], dtype="string"),
            "position": pd.array([], dtype="Int64"),
            "anzahl": pd.array([], dtype="Int64"),
            "_file": pd.array([], dtype="string"),
            "_line": pd.array([], dtype="Int64"),
        }
    )


def _transform_one(raw: RawTable, problems: list[Problem]) -> pd.DataFrame | None:
    file = raw.source
    mapping: dict[str, int] = {}
    for index, header in enumerate(raw.header):
        target = HEADER_ALIASES.get(normalize_header(header))
        if target is None:
            continue
        if target in mapping:
            problems.append(
                Problem(
                    check="Kopfzeile",
                    message=f"Spalte für '{target}' kommt doppelt vor "
                    f"('{raw.header[mapping[target]]}' und '{header}')",
                    file=file,
                    row=raw.header_line,
                    column=header,
                    found=", ".join(raw.header),
                    expected="jede Spalte nur einmal",
                )
            )
            return None
        mapping[target] = index
    # published column -> header as written in this file, so reports use the file's words
    raw.meta["headers"] = {target: raw.header[index] for target, index in mapping.items()}

    missing = [c for c in ("vorname", "anzahl") if c not in mapping]
    if missing:
        problems.append(
            Problem(
                check="Kopfzeile",
                message="Pflichtspalte fehlt: " + ", ".join(missing),
                file=file,
                row=raw.header_line,
                column=", ".join(missing),
                found=", ".join(raw.header),
                expected="Spalten Vorname (oder Name) und Anzahl, dazu geschlecht und position "
                "oder das Geschlecht im Dateinamen",
            )
        )
        return None

    file_gender = raw.meta.get("file_gender", [])
    if "geschlecht" not in mapping and len(file_gender) != 1:
        problems.append(
            Problem(
                check="Geschlecht",
                message="Geschlecht nicht bestimmbar: keine Spalte 'geschlecht' und im Dateinamen "
                + ("mehrere Angaben" if file_gender else "weder 'weiblich' noch 'männlich'"),
                file=file,
                found=file,
                expected="Spalte 'geschlecht' oder 'weiblich'/'maennlich' im Dateinamen",
            )
        )
        return None

    file_years = raw.meta.get("file_year", [])
    if "jahr" not in mapping and len(file_years) != 1:
        problems.append(
            Problem(
                check="Jahr",
                message="Jahr nicht bestimmbar: keine Spalte 'Jahr' und im Dateinamen "
                + ("mehrere Jahreszahlen" if file_years else "keine vierstellige Jahreszahl"),
                file=file,
                found=file,
                expected="Spalte 'Jahr' oder genau eine Jahreszahl im Dateinamen, "
                "z. B. vornamen_2023.csv",
            )
        )
        return None

    width = len(raw.header)
    records: dict[str, list[Any]] = {c: [] for c in [*COLUMNS, "_file", "_line"]}
    for cells, line in zip(raw.rows, raw.lines, strict=True):
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            problems.append(
                Problem(
                    check="Zeilenaufbau",
                    message=f"Zeile hat {len(cells)} Felder, die Kopfzeile {width}",
                    file=file,
                    row=line,
                    found=raw.delimiter.join(cells)[:200],
                    expected=f"{width} Felder wie in der Kopfzeile",
                )
            )
            continue
        cells = cells + [""] * (width - len(cells))

        def cell(column: str, cells: list[str] = cells) -> str:
            return cells[mapping[column]].strip()

        name = normalize_name(cell("vorname"))
        records["vorname"].append(name or None)
        gender_text = cell("geschlecht") if "geschlecht" in mapping else file_gender[0]
        records["geschlecht"].append(GENDER_VALUES.get(gender_text.casefold(), gender_text) or None)
        records["anzahl"].append(_int_cell(cell("anzahl"), "anzahl", raw, line, problems, True))
        records["position"].append(
            _int_cell(cell("position"), "position", raw, line, problems, False)
            if "position" in mapping
            else None
        )
        records["jahr"].append(
            _int_cell(cell("jahr"), "jahr", raw, line, problems, True)
            if "jahr" in mapping
            else file_years[0]
        )
        records["_file"].append(file)
        records["_line"].append(line)

    return pd.DataFrame(
        {
            "jahr": pd.array(records["jahr"], dtype="Int64"),
            "vorname": pd.array(records["vorname"], dtype="string"),
            "geschlecht": pd.array(records["geschlecht"], dtype="string"),
            "position": pd.array(records["position"], dtype="Int64"),
            "anzahl": pd.array(records["anzahl"], dtype="Int64"),
            "_file": pd.array(records["_file"], dtype="string"),
            "_line": pd.array(records["_line"], dtype="Int64"),
        }
    )


def _int_cell(
    text: str, column: str, raw: RawTable, line: int, problems: list[Problem], required: bool
) -> int | None:
    header = raw.meta["headers"].get(column, column)
    if not text:
        if required:
            problems.append(
                Problem(
                    check="Pflichtwert",
                    message=f"'{header}' ist leer",
                    file=raw.source,
                    row=line,
                    column=header,
                    found="",
                    expected="eine ganze Zahl",
                )
            )
        return None
    try:
        return parse_int(text)
    except ValueError:
        problems.append(
            Problem(
                check="Zahlenformat",
                message=f"'{header}' ist keine ganze Zahl",
                file=raw.source,
                row=line,
                column=header,
                found=text,
                expected="eine ganze Zahl, z. B. 12",
            )
        )
        return None
