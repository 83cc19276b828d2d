"""The pandas baseline of the validation benchmark checks what the pipeline's GE suite checks.

Each table goes through both :func:`etl.validate.validate` (Great Expectations) and
:func:`bench.validation_pandas.validate`; the two reports must list the same checks with
the same outcome and number of failing rows, and the same example problems.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from bench import validation_pandas
from bench.validation_bench import build_table
from etl.errors import Problem, ValidationReport
from etl.registry import get_dataset
from etl.sources.base import Tidy
from etl.validate import _rule_text, load_suite, validate

TODAY = dt.date(2024, 6, 1)  # the suite's current_year is 2024

ROWS = [
    # jahr, vorname, geschlecht, position, anzahl, file
    (2023, "Marie", "w", 1, 12, "vornamen_2023.csv"),
    (2023, "Noah", "m", 1, 9, "vornamen_2023.csv"),
    (2023, "Zoë", "w", 2, 1, "vornamen_2023.csv"),
    (2023, "Jean-Luc", "m", 2, 2, "vornamen_2023.csv"),
    (2023, "Kim", "d", 1, 3, "vornamen_2023.csv"),
    (2015, "Anna", "w", None, 5, "vornamen_2015_weiblich.csv"),
    (2015, "D'Angelo", "m", None, 1, "vornamen_2015_maennlich.csv"),
    (2015, "Anna", "m", None, 1, "vornamen_2015_maennlich.csv"),
]


def small_table() -> pd.DataFrame:
    """A valid tidy table with the transform's columns and dtypes."""
    return pd.DataFrame(
        {
            "jahr": pd.array([r[0] for r in ROWS], dtype="Int64"),
            "vorname": pd.array([r[1] for r in ROWS], dtype="string"),
            "geschlecht": pd.array([r[2] for r in ROWS], dtype="string"),
            "position": pd.array([r[3] for r in ROWS], dtype="Int64"),
            "anzahl": pd.array([r[4] for r in ROWS], dtype="Int64"),
            "_file": pd.array([r[5] for r in ROWS], dtype="string"),
            "_line": pd.array(range(2, 2 + len(ROWS)), dtype="Int64"),
            "_unter_schwelle": [False] * len(ROWS),
        }
    )


@pytest.fixture(scope="module")
def dataset():
    return get_dataset("vornamen")


@pytest.fixture(scope="module")
def rule_of() -> dict[str, tuple[str, str | None]]:
    """Rule text in reports → (expectation type, column) of the suite."""
    return {
        _rule_text(e): (e["type"], e["kwargs"].get("column"))
        for e in load_suite("vornamen")["expectations"]
    }


def both(dataset, tidy: Tidy) -> tuple[ValidationReport, ValidationReport]:
    ge = validate(dataset, tidy, today=TODAY)
    plain = validation_pandas.validate(dataset, tidy, today=TODAY)
    return ge, plain


def findings(report: ValidationReport) -> list[tuple[Any, ...]]:
    return [
        (p.check, p.message, p.file, p.row, p.column, None if p.found is None else str(p.found))
        for p in report.problems
    ]


def checks(report: ValidationReport) -> list[tuple[str, bool, int]]:
    # GE returns results in its own order, not the suite's
    return sorted((c["check"], c["success"], c["failed"]) for c in report.checks)


def assert_same(ge: ValidationReport, plain: ValidationReport) -> None:
    assert checks(plain) == checks(ge)
    assert sorted(findings(plain), key=str) == sorted(findings(ge), key=str)
    assert plain.success == ge.success
    assert plain.rows == ge.rows


def failing(report: ValidationReport, rule_of) -> set[tuple[str, str | None]]:
    return {rule_of.get(c["check"], (c["check"], None)) for c in report.checks if not c["success"]}


def test_small_valid_table_passes_both(dataset) -> None:
    ge, plain = both(dataset, Tidy(frame=small_table()))
    assert ge.success and plain.success
    assert_same(ge, plain)
    assert len(plain.checks) == len(load_suite("vornamen")["expectations"]) + 1


def test_benchmark_table_passes_both(dataset) -> None:
    frame = build_table(3000, last_year=TODAY.year - 1)
    assert len(frame) == 3000
    ge, plain = both(dataset, Tidy(frame=frame))
    assert ge.success, ge.problems[:3]
    assert_same(ge, plain)


def _set(row: int, column: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return change


def _append_copy(row: int, **changes: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame.iloc[[row]].assign(_line=pd.array([99], dtype="Int64"), **changes)
        return pd.concat([frame, extra], ignore_index=True)

    return change


BETWEEN = "expect_column_values_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
UNIQUE = ("expect_compound_columns_to_be_unique", None)
COLUMNS = ("expect_table_columns_to_match_set", None)

BROKEN: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], set[tuple[str, str | None]]]] = {
    "name missing": (_set(1, "vorname", pd.NA), {(NOT_NULL, "vorname")}),
    "digit in name": (
        _set(2, "vorname", "Zoë2"),
        {("expect_column_values_to_match_regex", "vorname")},
    ),
    "plus sign as name": (
        _set(3, "vorname", "+"),
        {("expect_column_values_to_match_regex", "vorname")},
    ),
    "count 0": (_set(0, "anzahl", 0), {(BETWEEN, "anzahl")}),
    "count negative": (_set(5, "anzahl", -3), {(BETWEEN, "anzahl")}),
    # a gap keeps the column nullable Int64, which GE does not accept as int64
    "count missing": (
        _set(0, "anzahl", pd.NA),
        {(NOT_NULL, "anzahl"), ("expect_column_values_to_be_in_type_list", "anzahl")},
    ),
    # checks that cannot run on the values fail without a count on both sides
    "count as text": (
        lambda f: f.assign(anzahl=f["anzahl"].astype("string")),
        {(BETWEEN, "anzahl"), ("expect_column_values_to_be_in_type_list", "anzahl")},
    ),
    "year as text": (
        lambda f: f.assign(jahr=f["jahr"].astype("string")),
        {(BETWEEN, "jahr")},
    ),
    "count with decimals": (
        lambda f: f.assign(anzahl=f["anzahl"].astype("float64") + 0.5),
        {("expect_column_values_to_be_in_type_list", "anzahl")},
    ),
    "gender unknown": (_set(1, "geschlecht", "x"), {(IN_SET, "geschlecht")}),
    "gender missing": (_set(1, "geschlecht", pd.NA), {(NOT_NULL, "geschlecht")}),
    "position 0": (_set(0, "position", 0), {(BETWEEN, "position")}),
    "position 21": (_set(3, "position", 21), {(BETWEEN, "position")}),
    "year 1899": (_set(5, "jahr", 1899), {(BETWEEN, "jahr")}),
    "year after the current one": (_set(0, "jahr", TODAY.year + 1), {(BETWEEN, "jahr")}),
    "year missing": (_set(0, "jahr", pd.NA), {(NOT_NULL, "jahr")}),
    "same name, year, gender and position twice": (_append_copy(0, anzahl=3), {UNIQUE}),
    "list without position delivered twice": (_append_copy(5), {UNIQUE}),
    "rare name of a rare gender published": (
        _set(4, "_unter_schwelle", True),
        {(IN_SET, "_unter_schwelle")},
    ),
    "extra column": (lambda f: f.assign(bemerkung="x"), {COLUMNS}),
    # the checks on the missing column cannot run and fail
    "column missing": (
        lambda f: f.drop(columns=["position"]),
        {COLUMNS, (BETWEEN, "position"), UNIQUE},
    ),
    "no rows": (lambda f: f.iloc[0:0], {("expect_table_row_count_to_be_between", None)}),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_table_fails_the_same_checks_on_both(dataset, rule_of, case: str) -> None:
    breaks, expected = BROKEN[case]
    ge, plain = both(dataset, Tidy(frame=breaks(small_table())))
    assert failing(ge, rule_of) == expected
    assert failing(plain, rule_of) == expected
    assert_same(ge, plain)


def test_several_faults_are_counted_alike(dataset, rule_of) -> None:
    frame = small_table()
    frame.loc[[0, 2, 6], "vorname"] = ["Ma1rie", pd.NA, "Bob!"]
    frame.loc[[1, 3], "geschlecht"] = ["x", "weiblich"]
    frame.loc[[4, 5], "anzahl"] = [0, -1]
    frame = pd.concat([frame, frame.iloc[[7, 7]]], ignore_index=True)
    ge, plain = both(dataset, Tidy(frame=frame))
    assert failing(plain, rule_of) == {
        (NOT_NULL, "vorname"),
        ("expect_column_values_to_match_regex", "vorname"),
        (IN_SET, "geschlecht"),
        (BETWEEN, "anzahl"),
        UNIQUE,
    }
    failed = {rule_of[c["check"]]: c["failed"] for c in plain.checks if not c["success"]}
    assert failed[("expect_column_values_to_match_regex", "vorname")] == 2
    assert failed[UNIQUE] == 3
    assert_same(ge, plain)


def test_problems_of_the_transform_fail_both(dataset) -> None:
    problem = Problem(
        check="Zahlenformat",
        message="'Anzahl' ist keine ganze Zahl",
        file="vornamen_2023.csv",
        row=4,
        column="Anzahl",
        found="zwölf",
    )
    ge, plain = both(dataset, Tidy(frame=small_table(), problems=[problem]))
    assert not ge.success and not plain.success
    assert plain.checks[0] == {"check": "Lesbarkeit und Aufbau", "success": False, "failed": 1}
    assert_same(ge, plain)


def test_every_expectation_type_of_the_suite_is_implemented() -> None:
    used = {e["type"] for e in load_suite("vornamen")["expectations"]}
    assert used <= set(validation_pandas.CHECKS)
