"""The baseline of the validation benchmark: a dataset's suite checked directly in pandas.

Driven by the same suite JSON as :func:`etl.validate.validate` (``expectations/<id>.json``,
same ``$PARAMETER`` values) and with Great Expectations' semantics for each expectation type
the suites use: column map checks skip missing values, count every unexpected row and keep
the first :data:`~etl.validate.EXAMPLES_PER_CHECK` as examples (what GE's ``SUMMARY``
result format returns); table checks report an observed value. It also does what
``etl.validate`` adds around GE (the transform's problems as the first check, location
columns left out), so both sides produce the same :class:`~etl.errors.ValidationReport`
checks. No Great Expectations import anywhere here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from etl.errors import Problem, ValidationReport
from etl.registry import Dataset
from etl.sources.base import LOCATION_COLUMNS, Tidy
from etl.validate import (
    EXAMPLES_PER_CHECK,
    _location,
    _rule_text,
    _shown_column,
    load_suite,
    suite_parameters,
)


@dataclass
class Outcome:
    """One expectation's result, shaped like the parts of GE's result that reports use."""

    success: bool
    unexpected_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    """Index labels of the first unexpected rows (map checks only)."""
    values: list[Any] = field(default_factory=list)
    """The unexpected values at those rows (single-column map checks only)."""
    observed_value: Any = None


_Check = Callable[[pd.DataFrame, dict[str, Any]], Outcome]


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def _map_outcome(
    domain: pd.Series | pd.DataFrame, expected: pd.Series, mostly: float | None
) -> Outcome:
    """Outcome of a map check: ``expected`` is True where a row of ``domain`` passes."""
    unexpected = ~expected.to_numpy(dtype=bool, na_value=False)
    count = int(unexpected.sum())
    total = len(expected)
    # GE's "mostly": the share of passing rows among the checked ones (all if not given)
    success = count == 0 if mostly is None else total == 0 or (total - count) / total >= mostly
    first = np.flatnonzero(unexpected)[:EXAMPLES_PER_CHECK]
    index = domain.index[first]
    values = list(domain.iloc[first]) if isinstance(domain, pd.Series) else []
    return Outcome(success, count, list(index), values)


def _column(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    """The non-missing values of the check's column (map checks ignore missing values)."""
    column: pd.Series = frame[kwargs["column"]]
    return column[column.notna()]


def _not_null(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    column = frame[kwargs["column"]]
    return _map_outcome(column, column.notna(), kwargs.get("mostly"))


def _match_regex(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    column = _column(frame, kwargs)
    # as GE does it: the text form of each value, searched (the suite anchors its patterns)
    matches = column.astype(str).str.contains(kwargs["regex"], regex=True)
    return _map_outcome(column, matches, kwargs.get("mostly"))


def _in_set(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    column = _column(frame, kwargs)
    return _map_outcome(column, column.isin(kwargs["value_set"]), kwargs.get("mostly"))


def _between(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    column = _column(frame, kwargs)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None and high is None:
        raise ValueError("min_value and max_value cannot both be None")
    inside = pd.Series(True, index=column.index)
    if low is not None:
        inside &= column > low if kwargs.get("strict_min") else column >= low
    if high is not None:
        inside &= column < high if kwargs.get("strict_max") else column <= high
    return _map_outcome(column, inside, kwargs.get("mostly"))


def _in_type_list(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    column = frame[kwargs["column"]]
    wanted = [np.dtype(name) for name in kwargs["type_list"]]
    if column.dtype == object:
        # GE checks the type of each value only when the column has no dtype of its own
        values = column[column.notna()]
        types = tuple(t.type for t in wanted)
        ok = values.map(lambda v: isinstance(v, types))
        return _map_outcome(values, ok.astype(bool), kwargs.get("mostly"))
    dtype = column.dtype
    # etl.validate hands GE nullable Int64 columns without gaps as numpy int64
    if isinstance(dtype, pd.Int64Dtype) and not column.isna().any():
        dtype = np.dtype("int64")
    return Outcome(success=dtype in wanted, observed_value=dtype.type.__name__)


def _compound_unique(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    columns = frame[kwargs["column_list"]]
    # GE's default for multi-column checks: rows with every value missing are skipped
    columns = columns[columns.notna().any(axis=1)]
    return _map_outcome(columns, ~columns.duplicated(keep=False), kwargs.get("mostly"))


def _row_count(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    rows = len(frame)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    success = (low is None or rows >= low) and (high is None or rows <= high)
    return Outcome(success=success, observed_value=rows)


def _columns_match_set(frame: pd.DataFrame, kwargs: dict[str, Any]) -> Outcome:
    actual = {str(c) for c in frame.columns}
    expected = set(kwargs["column_set"])
    success = actual == expected if kwargs.get("exact_match", True) else expected <= actual
    return Outcome(success=success, observed_value=sorted(actual))


CHECKS: dict[str, tuple[_Check, frozenset[str]]] = {
    "expect_table_row_count_to_be_between": (_row_count, frozenset({"min_value", "max_value"})),
    "expect_table_columns_to_match_set": (
        _columns_match_set,
        frozenset({"column_set", "exact_match"}),
    ),
    "expect_column_values_to_not_be_null": (_not_null, frozenset({"column", "mostly"})),
    "expect_column_values_to_match_regex": (_match_regex, frozenset({"column", "regex", "mostly"})),
    "expect_column_values_to_be_in_set": (_in_set, frozenset({"column", "value_set", "mostly"})),
    "expect_column_values_to_be_in_type_list": (
        _in_type_list,
        frozenset({"column", "type_list", "mostly"}),
    ),
    "expect_column_values_to_be_between": (
        _between,
        frozenset({"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"}),
    ),
    "expect_compound_columns_to_be_unique": (
        _compound_unique,
        frozenset({"column_list", "mostly"}),
    ),
}
"""Expectation type → check and the kwargs it understands (anything else is an error,
so a suite that grows a new option cannot silently be checked differently here)."""


def run_expectation(
    expectation: dict[str, Any], frame: pd.DataFrame, parameters: dict[str, Any]
) -> Outcome:
    """Check one suite entry on ``frame``.

    An entry that cannot run on this frame (a column it names is missing, text compared
    with a number) fails without a count or examples, as GE 1.x reports it.

    Raises:
        ValueError: the expectation type or one of its kwargs is not implemented here.
    """
    kind = expectation["type"]
    if kind not in CHECKS:
        raise ValueError(f"{kind} is not implemented in the pandas baseline")
    check, known = CHECKS[kind]
    unknown = set(expectation.get("kwargs", {})) - known
    if unknown:
        raise ValueError(f"{kind}: kwargs {sorted(unknown)} are not implemented")
    kwargs = {k: _resolve(v, parameters) for k, v in expectation["kwargs"].items()}
    named = [kwargs["column"]] if "column" in kwargs else kwargs.get("column_list") or []
    if any(c not in frame.columns for c in named):
        return Outcome(success=False)
    try:
        return check(frame, kwargs)
    except TypeError:
        # values that cannot be compared with the bounds, e.g. text in a number column
        return Outcome(success=False)


def validate(dataset: Dataset, tidy: Tidy, *, today: dt.date | None = None) -> ValidationReport:
    """The report :func:`etl.validate.validate` gives, computed with pandas alone."""
    suite = load_suite(dataset.id)
    parameters = suite_parameters(today)
    frame = tidy.frame
    checked = frame[
        [
            c
            for c in frame.columns
            if c not in LOCATION_COLUMNS and str(frame[c].dtype) != "geometry"
        ]
    ]
    report = ValidationReport(dataset=dataset.id, rows=len(frame))
    report.problems.extend(tidy.problems)
    report.checks.append(
        {
            "check": "Lesbarkeit und Aufbau",
            "success": not tidy.problems,
            "failed": len(tidy.problems),
        }
    )
    seen = {(p.file, p.row, p.column) for p in tidy.problems}
    headers: dict[str, dict[str, str]] = tidy.notes.get("headers", {})
    located = {(p.file, p.column) for p in tidy.problems}
    unreadable = {
        published
        for file, mapping in headers.items()
        for published, header in mapping.items()
        if (file, header) in located
    }
    cell_columns = set(tidy.notes.get("cell_columns", []))
    for expectation in suite["expectations"]:
        rule = _rule_text(expectation)
        outcome = run_expectation(expectation, checked, parameters)
        kwargs = expectation["kwargs"]
        failed = outcome.unexpected_count or (0 if outcome.success else 1)
        report.checks.append({"check": rule, "success": outcome.success, "failed": failed})
        if outcome.success:
            continue
        compared: list[str] = kwargs.get("column_list") or []
        column = kwargs.get("column") or ", ".join(compared)
        hint = (expectation.get("meta") or {}).get("hinweis")
        if outcome.examples:
            for position, index in enumerate(outcome.examples):
                row = frame.loc[index]
                file = _text_or_none(row.get("_file"))
                line = row.get("_line")
                line = None if pd.isna(line) else int(line)
                shown = _shown_column(row, file, column, compared, headers, cell_columns)
                if (file, line, shown) in seen:
                    continue
                found = outcome.values[position] if position < len(outcome.values) else None
                if compared:
                    found = ", ".join("" if pd.isna(row[c]) else str(row[c]) for c in compared)
                report.problems.append(
                    Problem(
                        check=rule,
                        message=hint or rule,
                        file=file,
                        row=line,
                        column=shown,
                        found=None if pd.isna(found) else found,
                        expected=rule,
                    )
                )
        elif column not in unreadable:
            report.problems.append(
                Problem(
                    check=rule,
                    message=hint or rule,
                    column=column or None,
                    found=outcome.observed_value,
                    expected=rule,
                )
            )
    report.problems.sort(key=_location)
    return report


def _text_or_none(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)
