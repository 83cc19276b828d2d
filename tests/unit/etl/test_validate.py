"""The vornamen suite through Great Expectations, on real and constructed inputs."""

from __future__ import annotations

import datetime as dt

import pytest

from etl import pipeline
from etl.errors import ValidationFailed
from etl.registry import get_dataset
from etl.validate import load_suite, suite_columns, validate
from tests.conftest import FIXTURES

FIRSTNAMES = FIXTURES / "firstnames"


@pytest.fixture(scope="module")
def dataset():
    return get_dataset("vornamen")


def report_for(dataset, *paths, today=None):
    tidy = pipeline.transform(dataset, pipeline.extract(dataset, list(paths)))
    return validate(dataset, tidy, today=today)


def failed(report) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for p in report.problems:
        out.setdefault(p.check, []).append((p.file, p.row, p.column, p.found))
    return out


def test_real_berlin_lists_pass(dataset) -> None:
    report = report_for(
        dataset, FIRSTNAMES / "Berlin_Mitte_2016.csv", FIRSTNAMES / "Berlin_Mitte_2023.csv"
    )
    assert report.success, report.problems[:3]
    assert report.rows == 3848 + 4394
    assert all(c["success"] for c in report.checks)
    assert len(report.checks) == len(load_suite("vornamen")["expectations"]) + 1


def test_real_koeln_2013_empty_name_is_found_at_its_line(dataset) -> None:
    report = report_for(dataset, FIRSTNAMES / "Vornamen_Koeln_2013.csv")
    assert failed(report) == {
        "Jede Zeile hat einen Vornamen": [("Vornamen_Koeln_2013.csv", 1750, "vorname", None)]
    }


def test_real_muenchen_plus_sign_breaks_the_name_rule(dataset) -> None:
    report = report_for(dataset, FIRSTNAMES / "Vornamen_Muenchen_2015.csv")
    problems = failed(report)
    rule = next(iter(problems))
    assert rule.startswith("Vornamen bestehen aus Buchstaben")
    assert sorted(problems[rule]) == [
        ("Vornamen_Muenchen_2015.csv", 207, "vornamen", "+"),
        ("Vornamen_Muenchen_2015.csv", 483, "vornamen", "+"),
    ]


def test_real_koeln_2017_duplicates_without_position_are_rejected(dataset) -> None:
    report = report_for(dataset, FIRSTNAMES / "Vornamen_Koeln_2017.csv")
    checks = failed(report)
    duplicates = checks["Jeder Vorname kommt je Jahr, Geschlecht und Position nur einmal vor"]
    assert len(duplicates) == 20  # examples are capped; the count is complete
    total = next(c for c in report.checks if c["check"].startswith("Jeder Vorname"))["failed"]
    assert total > 1000
    assert (
        "Vornamen_Koeln_2017.csv",
        5,
        "jahr, vorname, geschlecht, position",
        "2017, Paul, m, ",
    ) in duplicates


def test_same_file_twice_is_a_duplicate(dataset, write_file) -> None:
    a = write_file("a/v_2020_weiblich.csv", "Name;Anzahl\nAnna;1\n")
    b = write_file("b/v_2020_weiblich.csv", "Name;Anzahl\nAnna;1\n")
    assert not report_for(dataset, a, b).success


@pytest.mark.parametrize(
    ("text", "rule", "found"),
    [
        ("Vorname;Anzahl;Geschlecht\nAnna;0;w\n", "Anzahl ist mindestens 1", 0),
        ("Vorname;Anzahl;Geschlecht\nAnna;1;x\n", "Geschlecht ist w, m oder d", "x"),
        ("Vorname;Anzahl;Geschlecht\nAnn4;1;w\n", "Vornamen bestehen aus Buchstaben", "Ann4"),
        ("Vorname;Anzahl;Geschlecht;Position\nAnna;1;w;0\n", "Position ist", 0),
    ],
)
def test_rule_breaks_name_line_column_and_value(dataset, write_file, text, rule, found) -> None:
    report = report_for(dataset, write_file("v_2020.csv", text))
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.check.startswith(rule)
    assert (problem.file, problem.row, problem.found) == ("v_2020.csv", 2, found)


def test_header_only_file_fails_row_count(dataset, write_file) -> None:
    report = report_for(dataset, write_file("v_2020_weiblich.csv", "Name;Anzahl\n"))
    assert [p.check for p in report.problems] == ["Die Datei enthält mindestens eine Datenzeile"]


def test_future_year_is_implausible(dataset, write_file) -> None:
    path = write_file("v_2031_weiblich.csv", "Name;Anzahl\nAnna;1\n")
    assert not report_for(dataset, path, today=dt.date(2026, 6, 1)).success
    assert report_for(dataset, path, today=dt.date(2031, 6, 1)).success


def test_parse_problem_is_not_reported_twice(dataset, write_file) -> None:
    report = report_for(
        dataset, write_file("v_2020.csv", "Vorname;Anzahl;Geschlecht\nAnna;viele;w\n")
    )
    assert [(p.check, p.column, p.found) for p in report.problems] == [
        ("Zahlenformat", "Anzahl", "viele")
    ]


def test_check_writes_nothing_for_invalid_data(dataset, write_file, tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ValidationFailed) as caught:
        pipeline.check(
            dataset, [write_file("v_2020.csv", "Vorname;Anzahl;Geschlecht\nAnna;0;w\n")], out
        )
    assert caught.value.exit_code == 1
    assert not out.exists()


def test_suite_columns_lists_every_referenced_column() -> None:
    assert suite_columns(load_suite("vornamen")) == {
        "jahr",
        "vorname",
        "geschlecht",
        "position",
        "anzahl",
        "_unter_schwelle",  # the privacy rule's helper column
    }
