"""Freshness (etl/freshness.py): due dates from the EU update frequency, the grace
period, what counts as an update, and the overdue mails (real local SMTP server).

Every test sets the clock itself; ledger records are back-dated to fixed times."""

from __future__ import annotations

import datetime as dt
from typing import get_args
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from etl import freshness
from etl.freshness import FREQUENCIES, evaluate, grace, next_due
from etl.ledger import Ledger, OutputRecord, attempts
from etl.notify import MailSettings, Notifier
from etl.registry import Dataset, FrequencyCode, get_dataset
from tests.conftest import PROJECT

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    monkeypatch.setenv("HARVEST_WORK_DIR", str(tmp_path))
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", archive_dir=tmp_path / "archive")


def record(
    ledger: Ledger,
    dataset: str,
    at: dt.datetime,
    *,
    status: str = "success",
    actions: tuple[str, ...] = ("updated",),
    kind: str = "publish",
) -> int:
    """A finished attempt of ``dataset`` with outputs ``actions``, back-dated to ``at``."""
    attempt = ledger.begin(dataset, f"run-{at.isoformat()}-{kind}", kind=kind)  # type: ignore[arg-type]
    outputs = [
        OutputRecord(resource=f"{dataset}-{i}.csv", format="CSV", sha256="0" * 64, size=1, action=a)
        for i, a in enumerate(actions)
    ]
    ledger.finish(attempt, status=status, outputs_=outputs)  # type: ignore[arg-type]
    with ledger.engine.begin() as conn:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt)
            .values(started_at=at.astimezone(dt.UTC), finished_at=at.astimezone(dt.UTC))
        )
    return attempt


def with_frequency(dataset: Dataset, code: str) -> Dataset:
    package = dataset.package.model_copy(update={"frequency": code})
    return dataset.model_copy(update={"package": package})


# --------------------------------------------------------------------------- the table


def test_every_eu_frequency_code_of_the_registry_has_a_rule() -> None:
    assert set(FREQUENCIES) == set(get_args(FrequencyCode))


def test_labels_are_those_of_the_eu_vocabulary() -> None:
    from rdflib import Graph, URIRef
    from rdflib.namespace import SKOS

    graph = Graph().parse(PROJECT / "etl" / "shapes" / "vocabularies.ttl")
    base = "http://publications.europa.eu/resource/authority/frequency/"
    for code, rule in FREQUENCIES.items():
        labels = {str(o) for o in graph.objects(URIRef(base + code), SKOS.prefLabel)}
        assert rule.label in labels, code


LAST = berlin(2025, 1, 31, 6, 5)  # a Friday, the end of a long month


@pytest.mark.parametrize(
    ("code", "due"),
    [
        ("UPDATE_CONT", berlin(2025, 2, 1, 6, 5)),
        ("CONT", berlin(2025, 2, 1, 6, 5)),
        ("HOURLY", berlin(2025, 1, 31, 7, 5)),
        ("BIHOURLY", berlin(2025, 1, 31, 8, 5)),
        ("TRIHOURLY", berlin(2025, 1, 31, 9, 5)),
        ("DAILY", berlin(2025, 2, 1, 6, 5)),
        ("DAILY_2", berlin(2025, 1, 31, 18, 5)),
        ("WEEKLY", berlin(2025, 2, 7, 6, 5)),
        ("WEEKLY_2", berlin(2025, 2, 3, 18, 5)),  # 3.5 days
        ("WEEKLY_3", berlin(2025, 2, 2, 14, 5)),  # 56 hours
        ("BIWEEKLY", berlin(2025, 2, 14, 6, 5)),
        ("MONTHLY", berlin(2025, 2, 28, 6, 5)),  # 31 January + 1 month
        ("MONTHLY_2", berlin(2025, 2, 15, 6, 5)),
        ("MONTHLY_3", berlin(2025, 2, 10, 6, 5)),
        ("BIMONTHLY", berlin(2025, 3, 31, 6, 5)),
        ("QUARTERLY", berlin(2025, 4, 30, 6, 5)),
        ("ANNUAL", berlin(2026, 1, 31, 6, 5)),
        ("ANNUAL_2", berlin(2025, 7, 31, 6, 5)),
        ("ANNUAL_3", berlin(2025, 5, 31, 6, 5)),
        ("BIENNIAL", berlin(2027, 1, 31, 6, 5)),
        ("TRIENNIAL", berlin(2028, 1, 31, 6, 5)),
        ("QUADRENNIAL", berlin(2029, 1, 31, 6, 5)),
        ("QUINQUENNIAL", berlin(2030, 1, 31, 6, 5)),
        ("DECENNIAL", berlin(2035, 1, 31, 6, 5)),
        ("IRREG", None),
        ("NEVER", None),
        ("OTHER", None),
        ("UNKNOWN", None),
    ],
)
def test_next_due_per_frequency(code: str, due: dt.datetime | None) -> None:
    assert next_due(code, LAST) == due
    # the same instant given in UTC gives the same due date
    assert next_due(code, LAST.astimezone(dt.UTC)) == due


def test_a_year_after_a_leap_day_is_the_last_day_of_february() -> None:
    assert next_due("ANNUAL", berlin(2024, 2, 29, 10, 0)) == berlin(2025, 2, 28, 10, 0)


def test_weekly_keeps_the_local_time_across_the_change_to_summer_time() -> None:
    due = next_due("WEEKLY", berlin(2025, 3, 28, 6, 5))  # CET; 30 March is the switch
    assert due == berlin(2025, 4, 4, 6, 5)
    assert due is not None and due.astimezone(dt.UTC).hour == 4  # CEST: UTC+2


@pytest.mark.parametrize(
    ("code", "days"),
    [
        ("HOURLY", 1.0),  # at least a day
        ("DAILY", 1.0),
        ("WEEKLY", 1.0),  # 0.7 days -> 1
        ("BIWEEKLY", 1.4),
        ("MONTHLY", 365.25 / 12 / 10),
        ("QUARTERLY", 365.25 / 4 / 10),
        ("ANNUAL", 14.0),  # at most two weeks
        ("DECENNIAL", 14.0),
    ],
)
def test_grace_is_a_tenth_of_the_interval_between_one_and_fourteen_days(
    code: str, days: float
) -> None:
    assert grace(code) == dt.timedelta(days=days)


# --------------------------------------------------------------------------- evaluation


def _attempt(ledger: Ledger, dataset: str, at: dt.datetime, **kwargs):
    return ledger.get(record(ledger, dataset, at, **kwargs))


def test_overdue_only_after_due_date_plus_grace(ledger) -> None:
    dataset = get_dataset("vornamen")  # ANNUAL
    change = _attempt(ledger, "vornamen", berlin(2024, 3, 1, 6, 5))
    limit = berlin(2025, 3, 15, 6, 5)  # due 1 March 2025 + 14 days
    at_limit = evaluate(dataset, last_run=change, last_change=change, now=limit)
    assert at_limit.state == "current"
    assert at_limit.due_at == berlin(2025, 3, 1, 6, 5)
    assert at_limit.overdue_after == limit
    later = evaluate(
        dataset, last_run=change, last_change=change, now=limit + dt.timedelta(seconds=1)
    )
    assert later.state == "overdue" and later.overdue


def test_frequencies_without_interval_are_never_due(ledger) -> None:
    dataset = get_dataset("stadtbezirke")
    assert dataset.package.frequency == "IRREG"
    change = _attempt(ledger, dataset.id, berlin(2010, 1, 1, 6, 0))
    result = evaluate(dataset, last_run=change, last_change=change, now=berlin(2030, 1, 1))
    assert (result.state, result.due_at, result.overdue) == ("no_due_date", None, False)
    assert result.last_change_at == berlin(2010, 1, 1, 6, 0)


def test_a_dataset_never_published_has_no_due_date(ledger) -> None:
    result = freshness.assess(get_dataset("vornamen"), ledger=ledger, now=berlin(2030, 1, 1))
    assert (result.state, result.due_at, result.last_run_at) == ("never_changed", None, None)


def test_only_successful_publishes_that_changed_content_count_as_updates(ledger) -> None:
    changed = record(ledger, "vornamen", berlin(2024, 3, 1, 6, 5), actions=("created", "created"))
    record(ledger, "vornamen", berlin(2024, 3, 8, 6, 5), actions=("unchanged", "unchanged"))
    record(ledger, "vornamen", berlin(2024, 3, 15, 6, 5), kind="rollback")
    record(ledger, "vornamen", berlin(2024, 3, 22, 6, 5), status="failed")
    record(ledger, "vornamen", berlin(2024, 3, 29, 6, 5), status="invalid", actions=())
    result = freshness.assess(get_dataset("vornamen"), ledger=ledger, now=berlin(2024, 4, 1))
    assert result.last_change_attempt == changed
    assert result.last_change_at == berlin(2024, 3, 1, 6, 5)
    assert (result.last_run_at, result.last_run_status) == (berlin(2024, 3, 29, 6, 5), "invalid")
    assert result.due_at == berlin(2025, 3, 1, 6, 5)
    # a partial success counts: one resource updated, the other unchanged
    partial = record(ledger, "vornamen", berlin(2024, 4, 5, 6, 5), actions=("unchanged", "updated"))
    assert freshness.assess(get_dataset("vornamen"), ledger=ledger).last_change_attempt == partial


# --------------------------------------------------------------------------- the overdue report


def test_overdue_maintainer_and_team_are_mailed_then_reminded_weekly(ledger, smtp_server) -> None:
    annual = get_dataset("vornamen")
    monthly = with_frequency(get_dataset("flaeche-stadtbezirke"), "MONTHLY")
    irregular = get_dataset("stadtbezirke")
    datasets = {d.id: d for d in (annual, monthly, irregular)}
    record(ledger, annual.id, berlin(2024, 3, 1, 6, 5))
    record(ledger, monthly.id, berlin(2025, 3, 7, 6, 5))
    record(ledger, irregular.id, berlin(2019, 1, 4, 6, 5))
    settings = MailSettings(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="open-data-pipeline@duesseldorf.de",
        team="opendata-team@duesseldorf.de",
        public_portal_url="https://opendata.duesseldorf.de",
    )

    def check(now: dt.datetime):
        return freshness.report_overdue(
            datasets, ledger=ledger, notifier=Notifier(settings=settings), now=now
        )

    # 20 March 2025: only the annual list is overdue (due 1 March, grace 14 days)
    first = check(berlin(2025, 3, 20, 7, 0))
    assert [f.dataset for f in first.overdue] == [annual.id]
    assert first.notified == {annual.id: [annual.package.maintainer_email]}
    [mail] = smtp_server.to(annual.package.maintainer_email)
    assert mail["Subject"] == f"Aktualisierung überfällig: {annual.package.title}"
    assert mail["Reply-To"] == "opendata-team@duesseldorf.de"
    body = mail.get_content()
    assert "„jährlich“" in body
    assert "am 01.03.2024 veröffentlicht" in body and "am 01.03.2025 fällig" in body
    assert "https://opendata.duesseldorf.de/dataset/vornamen" in body
    [team] = smtp_server.to("opendata-team@duesseldorf.de")
    assert team["Subject"] == "[Open-Data-Pipeline] Überfällige Aktualisierungen: 1 Datensatz"
    assert "fällig seit 01.03.2025" in team.get_content()
    assert "Fachamt benachrichtigt" in team.get_content()

    # the next days: still overdue, but nobody is mailed again within a week
    second = check(berlin(2025, 3, 21, 7, 0))
    assert [f.dataset for f in second.overdue] == [annual.id]
    assert second.notified == {} and second.team == []
    assert second.reminded_recently == {annual.id: berlin(2025, 3, 20, 7, 0)}
    assert len(smtp_server.messages) == 2

    # a week later the monthly table is overdue too (due 7 April + ~3 days);
    # the annual list gets its weekly reminder
    third = check(berlin(2025, 4, 11, 7, 0))
    assert sorted(third.notified) == sorted([annual.id, monthly.id])
    assert len(smtp_server.to(annual.package.maintainer_email)) == 2
    [monthly_mail] = smtp_server.to(monthly.package.maintainer_email)
    assert "„monatlich“" in monthly_mail.get_content()
    assert len(smtp_server.to("opendata-team@duesseldorf.de")) == 2

    # the department delivers: a publish that changes content ends the overdue state
    record(ledger, annual.id, berlin(2025, 4, 11, 9, 0))
    fourth = check(berlin(2025, 4, 18, 7, 0))
    assert [f.dataset for f in fourth.overdue] == [monthly.id]
    assert irregular.id not in {f.dataset for f in fourth.overdue}


def test_without_smtp_nothing_is_recorded_so_mail_follows_once_configured(ledger) -> None:
    dataset = get_dataset("vornamen")
    record(ledger, dataset.id, berlin(2024, 3, 1, 6, 5))
    report = freshness.report_overdue(
        {dataset.id: dataset},
        ledger=ledger,
        notifier=Notifier(settings=MailSettings()),
        now=berlin(2025, 3, 20, 7, 0),
    )
    assert [f.dataset for f in report.overdue] == [dataset.id]
    assert report.notified == {}
    assert ledger.last_notice(dataset.id) is None
    assert "Fachamt nicht erreicht" in report.lines()[0]
