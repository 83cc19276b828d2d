"""Reports for files a drop folder sets aside: German, HTML for people, JSON for programs.

A rejected file gets two reports beside it in ``abgelehnt/``: ``<name>.bericht.html``
(what was checked, what failed with row, column, found value and the rule, and what
to change) and ``<name>.bericht.json`` with the same content for programs. The HTML
is rendered by Jinja2 with autoescaping (the content comes from the department's
file) and is accessible: ``lang="de"``, headings, tables with ``th``/``scope``, and
results in words, not only in colour.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from etl.errors import InputError, Problem, ValidationReport

SCHEMA = "harvest-dropzone-report/1"
"""Version of the JSON report; programs reading it can check it."""

LOCAL_TIME = ZoneInfo("Europe/Berlin")

MAX_PROBLEMS_SHOWN = 200
"""Findings listed in a report; the count is always complete."""

Reason = Literal["invalid", "unusable", "file_type", "unknown_dataset"]

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class DropReport:
    """Everything a report says about one rejected file.

    Attributes:
        reason: ``invalid`` (read, but breaks the dataset's rules), ``unusable`` (cannot
            be read at all), ``file_type`` (a type the dataset does not accept),
            ``unknown_dataset`` (dropped into a folder that is no dataset).
        advice: what to change, in the order to do it.
    """

    dataset: str
    dataset_title: str | None
    file: str
    filed_as: str
    sha256: str
    size: int
    received_at: dt.datetime
    checked_at: dt.datetime
    reason: Reason
    headline: str
    explanation: str = ""
    rows: int | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    contact: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (keys in English like the rest of the project's JSON)."""
        return {
            "schema": SCHEMA,
            "result": "abgelehnt",
            "reason": self.reason,
            "dataset": self.dataset,
            "dataset_title": self.dataset_title,
            "file": self.file,
            "filed_as": self.filed_as,
            "sha256": self.sha256,
            "size": self.size,
            "received_at": self.received_at.isoformat(),
            "checked_at": self.checked_at.isoformat(),
            "headline": self.headline,
            "explanation": self.explanation,
            "rows": self.rows,
            "checks": self.checks,
            "problems_total": len(self.problems),
            "problems": [p.as_dict() for p in self.problems],
            "advice": self.advice,
            "accepted_file_types": self.accepted,
            "contact": self.contact,
        }


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%d.%m.%Y, %H:%M:%S Uhr")


def _quote(text: str) -> str:
    return f"„{text}“"


def _where(problem: Problem) -> str:
    parts = []
    if problem.row is not None:
        parts.append(f"Zeile {problem.row}")
    if problem.column:
        parts.append(f"Spalte {_quote(problem.column)}")
    return ", ".join(parts)


def _advice_for_problems(problems: list[Problem]) -> list[str]:
    """One instruction per failed rule: where, what was found, what is expected."""
    by_rule: dict[str, list[Problem]] = {}
    for problem in problems:
        by_rule.setdefault(problem.expected or problem.check, []).append(problem)
    advice = []
    for rule, found in by_rule.items():
        places = [_where(p) for p in found if _where(p)]
        shown = "; ".join(places[:5])
        if len(places) > 5:
            shown += f" und {len(places) - 5} weitere"
        hint = found[0].message if found[0].message not in (rule, found[0].check) else ""
        text = f"Regel {_quote(rule)} ist verletzt"
        if shown:
            text += f" ({shown})"
        text += "."
        if hint:
            text += f" {hint}"
        values = [p.found for p in found if p.found is not None and p.found != ""]
        if values and len(values) == len(found) and len(found) <= 3:
            text += " Gefunden: " + ", ".join(_quote(str(v)) for v in values) + "."
        advice.append(text)
    return advice


def _closing_advice(dataset_id: str) -> str:
    return (
        f"Die korrigierte Datei einfach wieder in den Ordner {_quote(dataset_id)} legen: "
        "Sie wird automatisch geprüft und veröffentlicht. Diese abgelehnte Datei bleibt "
        "zur Nachverfolgung im Ordner „abgelehnt“."
    )


def for_validation(
    *,
    dataset: str,
    dataset_title: str | None,
    file: str,
    filed_as: str,
    sha256: str,
    size: int,
    received_at: dt.datetime,
    report: ValidationReport,
    contact: str,
    accepted: list[str] | None = None,
) -> DropReport:
    """The report of a file that was read but breaks the dataset's rules."""
    failed = [c for c in report.checks if not c.get("success")]
    headline = (
        f"Die Datei {_quote(file)} wurde gelesen, erfüllt aber {len(failed)} Regel(n) des "
        f"Datensatzes nicht ({len(report.problems)} Fundstelle(n)). Es wurde nichts "
        "veröffentlicht; auf dem Portal bleibt der bisherige Stand."
    )
    return DropReport(
        dataset=dataset,
        dataset_title=dataset_title,
        file=file,
        filed_as=filed_as,
        sha256=sha256,
        size=size,
        received_at=received_at,
        checked_at=dt.datetime.now(dt.UTC),
        reason="invalid",
        headline=headline,
        rows=report.rows,
        checks=list(report.checks),
        problems=list(report.problems),
        advice=[*_advice_for_problems(report.problems), _closing_advice(dataset)],
        accepted=list(accepted or []),
        contact=contact,
    )


def for_input_error(
    *,
    dataset: str,
    dataset_title: str | None,
    file: str,
    filed_as: str,
    sha256: str,
    size: int,
    received_at: dt.datetime,
    error: InputError,
    contact: str,
    accepted: list[str],
    wrong_type: bool = False,
) -> DropReport:
    """The report of a file that cannot be used at all (type, encoding, empty, …)."""
    detail = error.message
    if error.file and detail.startswith(f"{error.file}: "):
        detail = detail[len(error.file) + 2 :]
    if wrong_type:
        headline = f"Dateien dieses Typs nimmt der Datensatz nicht an: {_quote(file)}."
        advice = [
            f"Die Datei in einem dieser Formate speichern: {', '.join(accepted)} "
            "(in Excel z. B. „Datei → Speichern unter → CSV UTF-8 (durch Trennzeichen "
            "getrennt)“), falls der Datensatz CSV annimmt.",
        ]
    else:
        headline = f"Die Datei {_quote(file)} konnte nicht gelesen werden: {detail}."
        advice = [
            "Die Datei noch einmal aus dem Fachverfahren oder aus Excel exportieren "
            f"(erlaubt: {', '.join(accepted)}) und dabei prüfen, dass sie vollständig ist "
            "und eine Kopfzeile mit den Spaltennamen hat.",
        ]
    return DropReport(
        dataset=dataset,
        dataset_title=dataset_title,
        file=file,
        filed_as=filed_as,
        sha256=sha256,
        size=size,
        received_at=received_at,
        checked_at=dt.datetime.now(dt.UTC),
        reason="file_type" if wrong_type else "unusable",
        headline=headline,
        explanation=f"Befund: {detail}",
        problems=[Problem(check="Datei lesbar", message=detail, file=file)],
        checks=[{"check": "Datei lesbar und vom erlaubten Typ", "success": False, "failed": 1}],
        advice=[*advice, _closing_advice(dataset)],
        accepted=list(accepted),
        contact=contact,
    )


def for_unknown_dataset(
    *,
    folder: str,
    file: str,
    filed_as: str,
    sha256: str,
    size: int,
    received_at: dt.datetime,
    known: list[str],
    contact: str,
) -> DropReport:
    """The report of a file dropped into a folder that belongs to no registered dataset."""
    shown = ", ".join(known[:30]) + (" …" if len(known) > 30 else "")
    return DropReport(
        dataset=folder,
        dataset_title=None,
        file=file,
        filed_as=filed_as,
        sha256=sha256,
        size=size,
        received_at=received_at,
        checked_at=dt.datetime.now(dt.UTC),
        reason="unknown_dataset",
        headline=(
            f"Der Ordner {_quote(folder)} gehört zu keinem Datensatz des Portals; die Datei "
            f"{_quote(file)} wurde deshalb nicht verarbeitet."
        ),
        checks=[{"check": "Ordner gehört zu einem Datensatz", "success": False, "failed": 1}],
        problems=[
            Problem(
                check="Ordner gehört zu einem Datensatz",
                message="Unbekannter Datensatz",
                file=file,
                found=folder,
                expected="Ordnername = Kennung eines Datensatzes",
            )
        ],
        advice=[
            f"Die Datei in den Ordner des richtigen Datensatzes legen. Vorhandene Ordner: {shown}.",
            "Soll ein neuer Datensatz veröffentlicht werden, bitte zuerst das Open-Data-Team "
            "bitten, ihn anzulegen.",
        ],
        contact=contact,
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # autoescape: file names, cell values and column headings come from the department
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_html(report: DropReport) -> str:
    """The report as an accessible German HTML page."""
    shown = report.problems[:MAX_PROBLEMS_SHOWN]
    view = {
        **report.as_dict(),
        "problems": shown,
        "problems_total": len(report.problems),
        "received": _local(report.received_at),
        "checked": _local(report.checked_at),
        "accepted": report.accepted,
    }
    return _environment().get_template("bericht.html.j2").render(r=view)


def render_json(report: DropReport) -> str:
    """The report as JSON (UTF-8 text, stable key order)."""
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n"


def write_reports(report: DropReport, directory: Path) -> list[Path]:
    """Write ``<filed_as>.bericht.html`` and ``.bericht.json`` into ``directory``.

    Each file is written under a temporary name and renamed, so a crash or a full
    disk never leaves a half report that looks complete.

    Raises:
        OSError: the folder is not writable or the disk is full (nothing is renamed).
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in (
        (".bericht.html", render_html(report)),
        (".bericht.json", render_json(report)),
    ):
        target = directory / f"{report.filed_as}{suffix}"
        partial = directory / f".{target.name}.part"
        try:
            with open(partial, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
        except OSError:
            partial.unlink(missing_ok=True)
            raise
        written.append(target)
    return written
