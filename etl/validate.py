"""Validation with Great Expectations: one suite per dataset in ``expectations/<id>.json``.

The suite is the contract of the published table. Each expectation may carry a
German rule text in ``meta.regel`` and a hint in ``meta.hinweis``; reports show
those to the department, so the suite file is also the wording of the report.

Problems found while transforming (a number that is not a number) are merged
with the suite's findings into one :class:`~etl.errors.ValidationReport`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from etl.errors import ConfigError, Problem, ValidationFailed, ValidationReport
from etl.registry import PROJECT_ROOT, Dataset
from etl.sources.base import LOCATION_COLUMNS, Tidy

log = logging.getLogger(__name__)

EXAMPLES_PER_CHECK = 20
"""How many failing rows a report lists per check (the count is always complete)."""


def expectations_dir() -> Path:
    """``HARVEST_EXPECTATIONS`` or ``<project>/expectations``."""
    return Path(os.environ.get("HARVEST_EXPECTATIONS") or PROJECT_ROOT / "expectations")


def load_suite(dataset_id: str) -> dict[str, Any]:
    """The suite JSON of a dataset.

    Raises:
        ConfigError: the suite is missing or not valid JSON.
    """
    path = expectations_dir() / f"{dataset_id}.json"
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no expectation suite for {dataset_id!r} at {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if suite.get("name") != dataset_id:
        raise ConfigError(f"{path}: suite name must be {dataset_id!r}")
    return suite


def suite_columns(suite: dict[str, Any]) -> set[str]:
    """Every column a suite refers to (for the registry contract tests)."""
    columns: set[str] = set()
    for expectation in suite.get("expectations", []):
        kwargs = expectation.get("kwargs", {})
        if "column" in kwargs:
            columns.add(kwargs["column"])
        for key in ("column_list", "column_set"):
            columns.update(kwargs.get(key) or [])
        for key in ("column_A", "column_B"):
            if key in kwargs:
                columns.add(kwargs[key])
    return columns


class _Gx:
    """One ephemeral Great Expectations context per process (creating it costs ~1 s)."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # this GE module pins its logger to INFO and announces a temporary docs folder
        # on every context creation: noise in CLI output and task logs
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # tqdm bars would interleave with our own progress output and Airflow logs
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("harvest")
        self.batch = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("all")

    def run(
        self, suite_json: dict[str, Any], frame: pd.DataFrame, parameters: dict[str, Any]
    ) -> Any:
        from great_expectations.core import ExpectationSuite

        suite = self.context.suites.add_or_update(ExpectationSuite(**suite_json))
        definition = self.context.validation_definitions.add_or_update(
            self.gx.ValidationDefinition(name=suite.name, data=self.batch, suite=suite)
        )
        return definition.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLES_PER_CHECK,
            },
        )


@lru_cache(maxsize=1)
def _gx() -> _Gx:
    return _Gx()


def _frame_for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """Hand GE numpy integer dtypes where possible.

    GE 1.x reports pandas' nullable ``Int64`` as ``int64`` but then fails
    ``expect_column_values_to_be_in_type_list`` for both names.
    """
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, pd.Int64Dtype) and not series.isna().any():
            series = series.astype("int64")
        columns[name] = series
    return pd.DataFrame(columns, index=frame.index)


def suite_parameters(today: dt.date | None = None) -> dict[str, Any]:
    """Values suites may reference as ``{"$PARAMETER": name}``."""
    today = today or dt.date.today()
    return {"current_year": today.year, "today": today.isoformat()}


def validate(dataset: Dataset, tidy: Tidy, *, today: dt.date | None = None) -> ValidationReport:
    """Run the dataset's suite on the tidy table; merge in the transform's problems."""
    suite = load_suite(dataset.id)
    frame = tidy.frame
    # geometry columns are checked through the family's helper columns (``_minx`` …)
    checked = [
        c for c in frame.columns if c not in LOCATION_COLUMNS and str(frame[c].dtype) != "geometry"
    ]
    report = ValidationReport(dataset=dataset.id, rows=len(frame))
    report.problems.extend(tidy.problems)
    if tidy.problems:
        report.checks.append(
            {"check": "Lesbarkeit und Aufbau", "success": False, "failed": len(tidy.problems)}
        )
    else:
        report.checks.append({"check": "Lesbarkeit und Aufbau", "success": True, "failed": 0})

    result = _gx().run(suite, _frame_for_gx(frame[checked]), suite_parameters(today))
    seen = {(p.file, p.row, p.column) for p in tidy.problems}
    headers: dict[str, dict[str, str]] = tidy.notes.get("headers", {})
    # published columns that already have unreadable cells: their whole-column
    # checks (type) would only repeat the transform's finding in vaguer words
    located = {(p.file, p.column) for p in tidy.problems}
    unreadable = {
        published
        for file, mapping in headers.items()
        for published, header in mapping.items()
        if (file, header) in located
    }
    cell_columns = set(tidy.notes.get("cell_columns", []))
    for item in result.results:
        outcome = item.to_json_dict()
        config = outcome["expectation_config"]
        rule = _rule_text(config)
        exception = outcome.get("exception_info") or {}
        if exception.get("raised_exception"):
            # an expectation that cannot even run is a suite/data mismatch, e.g. a
            # column the data does not have
            report.checks.append({"check": rule, "success": False, "failed": 1})
            report.problems.append(
                Problem(
                    check=rule,
                    message="Prüfung konnte nicht ausgeführt werden: "
                    + str(exception.get("exception_message")),
                    column=config["kwargs"].get("column"),
                    expected=rule,
                )
            )
            continue
        res = outcome.get("result") or {}
        success = bool(outcome["success"])
        failed = int(res.get("unexpected_count") or (0 if success else 1))
        report.checks.append({"check": rule, "success": success, "failed": failed})
        if success:
            continue
        kwargs = config["kwargs"]
        # single column, column list, or the pair of a column-pair expectation
        compared = kwargs.get("column_list") or [
            kwargs[key] for key in ("column_A", "column_B") if key in kwargs
        ]
        column = kwargs.get("column") or ", ".join(compared)
        hint = (config.get("meta") or {}).get("hinweis")
        indices = res.get("partial_unexpected_index_list")
        values = res.get("partial_unexpected_list") or []
        if indices:
            for position, index in enumerate(indices):
                row = frame.loc[index]
                file = row.get("_file")
                file = None if pd.isna(file) else str(file)
                line = row.get("_line")
                shown_column = _shown_column(row, file, column, compared, headers, cell_columns)
                if (file, None if pd.isna(line) else int(line), shown_column) in seen:
                    continue
                found = values[position] if position < len(values) else None
                if compared:
                    found = ", ".join("" if pd.isna(row[c]) else str(row[c]) for c in compared)
                report.problems.append(
                    Problem(
                        check=rule,
                        message=hint or rule,
                        file=file,
                        row=None if pd.isna(line) else int(line),
                        column=shown_column,
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
                    found=res.get("observed_value"),
                    expected=rule,
                )
            )
    report.problems.sort(key=_location)
    return report


def _shown_column(
    row: pd.Series,
    file: str | None,
    column: str,
    compared: list[str],
    headers: dict[str, dict[str, str]],
    cell_columns: set[str],
) -> str:
    """The column as the department knows it: the heading in its file, where known."""
    if not file:
        return column
    mapping = headers.get(file, {})
    source_column = row.get("_column")
    if source_column is None or pd.isna(source_column):
        source_column = None

    def heading(name: str) -> str:
        if name in cell_columns and source_column is not None:
            return str(source_column)
        return mapping.get(name, name)

    return ", ".join(heading(c) for c in compared) if compared else heading(column)


def _location(problem: Problem) -> tuple[str, int]:
    return (problem.file or "", problem.row or 0)


def require_valid(report: ValidationReport) -> ValidationReport:
    """Raise :class:`ValidationFailed` unless the report is clean."""
    if not report.success:
        raise ValidationFailed(report)
    return report


_RULE_TEMPLATES: dict[str, str] = {
    "expect_column_to_exist": "Spalte '{column}' vorhanden",
    "expect_column_values_to_not_be_null": "'{column}' ist ausgefüllt",
    "expect_column_values_to_be_between": "'{column}' liegt zwischen {min_value} und {max_value}",
    "expect_column_values_to_be_in_set": "'{column}' ist einer der Werte {value_set}",
    "expect_column_values_to_match_regex": "'{column}' hat das erlaubte Format",
    "expect_column_values_to_be_unique": "'{column}' ist eindeutig",
    "expect_compound_columns_to_be_unique": "Kombination {column_list} ist eindeutig",
    "expect_table_row_count_to_be_between": "Anzahl Zeilen zwischen {min_value} und {max_value}",
    "expect_column_values_to_be_in_type_list": "'{column}' hat den Typ {type_list}",
}


def _rule_text(config: dict[str, Any]) -> str:
    """German rule text: ``meta.regel`` of the expectation, else a generic sentence."""
    meta = config.get("meta") or {}
    if meta.get("regel"):
        return str(meta["regel"])
    template = _RULE_TEMPLATES.get(config["type"])
    kwargs = {k: ("…" if v is None else v) for k, v in config["kwargs"].items()}
    if template:
        try:
            return template.format(**kwargs)
        except (KeyError, IndexError):
            pass
    return f"{config['type']} {json.dumps(config['kwargs'], ensure_ascii=False, default=str)}"
