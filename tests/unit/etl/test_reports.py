"""German reports of rejected drops: content (row, column, found, expected, what to do),
escaping of the department's data, accessible HTML, JSON for programs."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser

import pytest

from etl import reports
from etl.errors import InputError, Problem, ValidationReport

RECEIVED = dt.datetime(2025, 1, 31, 9, 5, tzinfo=dt.UTC)


@pytest.fixture
def report() -> reports.DropReport:
    validation = ValidationReport(
        dataset="vornamen",
        rows=3,
        checks=[
            {"check": "Lesbarkeit und Aufbau", "success": True, "failed": 0},
            {"check": "Anzahl ist mindestens 1", "success": False, "failed": 1},
            {"check": "Vornamen bestehen aus Buchstaben", "success": False, "failed": 1},
        ],
        problems=[
            Problem(
                check="Anzahl ist mindestens 1",
                message="Namen mit Anzahl 0 gehören nicht in die Liste.",
                file="Vornamen_2024.csv",
                row=2,
                column="Anzahl",
                found=0,
                expected="Anzahl ist mindestens 1",
            ),
            Problem(
                check="Vornamen bestehen aus Buchstaben",
                message="Der Vorname enthält Sonderzeichen.",
                file="Vornamen_2024.csv",
                row=3,
                column="Name",
                found="<script>alert('x')</script>",
                expected="Vornamen bestehen aus Buchstaben",
            ),
        ],
    )
    return reports.for_validation(
        dataset="vornamen",
        dataset_title="Vornamen von Neugeborenen",
        file="Vornamen_2024.csv",
        filed_as="Vornamen_2024__2025-01-31_10-05-00__abcdef01.csv",
        sha256="ab" * 32,
        size=42,
        received_at=RECEIVED,
        report=validation,
        contact="Open-Data-Team (opendata@example.org)",
        accepted=[".csv", ".txt"],
    )


class Structure(HTMLParser):
    """Collects what an accessibility check looks at."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text.append(data)


def parse(html: str) -> Structure:
    structure = Structure()
    structure.feed(html)
    return structure


def test_html_names_row_column_found_value_and_rule_in_german(report) -> None:
    html = reports.render_html(report)
    text = " ".join(parse(html).text)
    for expected in (
        "Prüfbericht",
        "abgelehnt",
        "Was zu tun ist",
        "Was nicht in Ordnung ist",
        "Was geprüft wurde",
        "Zeile",
        "Spalte",
        "Gefundener Wert",
        "Erwartet (Regel)",
        "Anzahl ist mindestens 1",
        "Namen mit Anzahl 0 gehören nicht in die Liste.",
        "✗ nicht bestanden",
        "✓ bestanden",
        "31.01.2025, 10:05:00 Uhr",  # local time for people in Düsseldorf
    ):
        assert expected in text, expected


def test_html_escapes_the_departments_content(report) -> None:
    html = reports.render_html(report)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert('x')</script>" in " ".join(parse(html).text)  # shown as text


def test_html_is_accessible_structure(report) -> None:
    structure = parse(reports.render_html(report))
    tags = structure.tags
    assert tags[0] == ("html", {"lang": "de"})
    names = [t for t, _ in tags]
    assert names.count("h1") == 1 and names.count("h2") >= 3
    assert names.count("table") == 2 and names.count("caption") == 2
    headers = [attrs for tag, attrs in tags if tag == "th"]
    assert headers and all(a.get("scope") in ("col", "row") for a in headers)
    # results are words, not only colours
    assert "nicht bestanden" in " ".join(structure.text)


def test_json_report_for_programs(report) -> None:
    data = json.loads(reports.render_json(report))
    assert data["schema"] == reports.SCHEMA
    assert (data["result"], data["reason"], data["dataset"]) == ("abgelehnt", "invalid", "vornamen")
    assert data["problems_total"] == 2
    first = data["problems"][0]
    assert (first["row"], first["column"], first["found"], first["expected"]) == (
        2,
        "Anzahl",
        0,
        "Anzahl ist mindestens 1",
    )
    assert data["advice"][0].startswith("Regel „Anzahl ist mindestens 1“ ist verletzt (Zeile 2")
    assert data["received_at"] == "2025-01-31T09:05:00+00:00"


def test_advice_names_places_and_closes_with_what_happens_next(report) -> None:
    assert "Zeile 3, Spalte „Name“" in report.advice[1]
    assert "Gefunden: „<script>" in report.advice[1]
    assert "wieder in den Ordner „vornamen“ legen" in report.advice[-1]


def test_many_findings_are_summarised_per_rule() -> None:
    problems = [
        Problem(check="r", message="m", file="f.csv", row=n, column="c", found="", expected="r")
        for n in range(2, 12)
    ]
    validation = ValidationReport(dataset="d", rows=10, problems=problems)
    built = reports.for_validation(
        dataset="d",
        dataset_title=None,
        file="f.csv",
        filed_as="f.csv",
        sha256="0" * 64,
        size=1,
        received_at=RECEIVED,
        report=validation,
        contact="",
    )
    assert len(built.advice) == 2
    assert "Zeile 2, Spalte „c“; Zeile 3" in built.advice[0] and "und 5 weitere" in built.advice[0]
    html = reports.render_html(built)
    assert "(leer)" in html  # an empty cell is named, not shown as nothing


def test_unreadable_file_report() -> None:
    built = reports.for_input_error(
        dataset="vornamen",
        dataset_title="Vornamen",
        file="v.csv",
        filed_as="v__x.csv",
        sha256="0" * 64,
        size=0,
        received_at=RECEIVED,
        error=InputError("die Datei ist leer (0 Bytes)", file="v.csv"),
        contact="",
        accepted=[".csv", ".txt"],
    )
    assert built.reason == "unusable"
    assert "konnte nicht gelesen werden: die Datei ist leer (0 Bytes)" in built.headline
    assert "v.csv: " not in built.headline  # the file is named once, not twice
    assert "(erlaubt: .csv, .txt)" in built.advice[0]


def test_wrong_type_report_lists_accepted_types() -> None:
    built = reports.for_input_error(
        dataset="vornamen",
        dataset_title="Vornamen",
        file="v.xlsx",
        filed_as="v__x.xlsx",
        sha256="0" * 64,
        size=2,
        received_at=RECEIVED,
        error=InputError("Dateityp .xlsx wird für vornamen nicht angenommen"),
        contact="",
        accepted=[".csv", ".txt"],
        wrong_type=True,
    )
    assert built.reason == "file_type"
    assert ".csv, .txt" in built.advice[0]
    assert "Erlaubte Dateitypen" in reports.render_html(built)


def test_write_reports_writes_both_files_beside_the_file(tmp_path, report) -> None:
    html, js = reports.write_reports(report, tmp_path)
    assert html.name == f"{report.filed_as}.bericht.html"
    assert js.name == f"{report.filed_as}.bericht.json"
    assert json.loads(js.read_text(encoding="utf-8"))["file"] == "Vornamen_2024.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([html.name, js.name])


def test_write_reports_into_an_unwritable_place_raises_and_leaves_no_partial(tmp_path, report):
    blocker = tmp_path / "abgelehnt"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        reports.write_reports(report, blocker)
    assert blocker.read_text() == "a file where the folder should be"
