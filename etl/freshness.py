"""Freshness: when a dataset's next update is due, and which datasets are overdue.

``package.frequency`` in the registry (the EU frequency code published as
``dct:accrualPeriodicity``) is a promise to users: how often the *data* changes. From
it and the ledger the pipeline knows when the next update is due:

* the **last change** is the newest successful publish whose outputs include a
  ``created`` or ``updated`` resource. The Friday runs re-publish unchanged data
  without changing anything; such a run is not an update, and a rollback brings back
  older data, so neither counts;
* the **next due date** is the last change plus the frequency's interval
  (:data:`FREQUENCIES`), in Europe/Berlin wall-clock time: months are calendar months
  (31 January + 1 month = 28/29 February);
* a dataset is **overdue** once the due date plus a grace period has passed: 10 % of
  the interval, at least one day and at most 14 days (:func:`grace`). Datasets whose
  frequency has no interval (``IRREG``, ``UNKNOWN``, ``NEVER``, ``OTHER``) and datasets
  never published have no due date.

The daily DAG ``harvest_freshness`` calls :func:`report_overdue`: the maintainer of
each overdue dataset (``package.maintainer_email``) gets a German mail, the team
(``HARVEST_TEAM_EMAIL``) a summary. A maintainer is reminded at most every
:data:`REMINDER_INTERVAL` for the same due date (recorded in the ledger), so a daily
check does not mean a daily mail. ``harvest status`` shows the same assessment.

Every function takes the clock (``now``) as an argument, so tests control it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from etl.ledger import Attempt, Ledger
from etl.notify import Notifier, compose_overdue, german_date
from etl.registry import Dataset

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")

GRACE_SHARE = 0.1
MIN_GRACE = dt.timedelta(days=1)
MAX_GRACE = dt.timedelta(days=14)
REMINDER_INTERVAL = dt.timedelta(days=7)
"""A maintainer is told again about the same overdue update after this long."""

_MONTH = dt.timedelta(days=365.25 / 12)


@dataclass(frozen=True)
class Frequency:
    """An EU frequency code: its German label and the interval between updates.

    ``months`` and ``delta`` are added to the last change (months first); both zero
    means the frequency has no due date.
    """

    label: str
    months: int = 0
    delta: dt.timedelta = dt.timedelta(0)

    @property
    def has_due_date(self) -> bool:
        return bool(self.months or self.delta)

    @property
    def approximate(self) -> dt.timedelta:
        """The interval as a duration (a month counted as 1/12 of a year), for the grace."""
        return self.months * _MONTH + self.delta


def _hours(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


FREQUENCIES: dict[str, Frequency] = {
    # continuous data: the pipeline runs in batches, so a day is the most it can promise
    "UPDATE_CONT": Frequency("laufend aktualisiert", delta=dt.timedelta(days=1)),
    "CONT": Frequency("kontinuierlich", delta=dt.timedelta(days=1)),
    "HOURLY": Frequency("stündlich", delta=_hours(1)),
    "BIHOURLY": Frequency("alle zwei Stunden", delta=_hours(2)),
    "TRIHOURLY": Frequency("alle drei Stunden", delta=_hours(3)),
    "DAILY": Frequency("täglich", delta=dt.timedelta(days=1)),
    "DAILY_2": Frequency("zweimal täglich", delta=_hours(12)),
    "WEEKLY": Frequency("wöchentlich", delta=dt.timedelta(days=7)),
    "WEEKLY_2": Frequency("zweimal wöchentlich", delta=_hours(7 * 24 / 2)),
    "WEEKLY_3": Frequency("dreimal wöchentlich", delta=_hours(7 * 24 / 3)),
    "BIWEEKLY": Frequency("alle zwei Wochen", delta=dt.timedelta(days=14)),
    "MONTHLY": Frequency("monatlich", months=1),
    # "twice/three times a month" has no calendar rule; 15 and 10 days are the spacing
    "MONTHLY_2": Frequency("zweimal im Monat", delta=dt.timedelta(days=15)),
    "MONTHLY_3": Frequency("dreimal im Monat", delta=dt.timedelta(days=10)),
    "BIMONTHLY": Frequency("alle zwei Monate", months=2),
    "QUARTERLY": Frequency("vierteljährlich", months=3),
    "ANNUAL": Frequency("jährlich", months=12),
    "ANNUAL_2": Frequency("halbjährlich", months=6),
    "ANNUAL_3": Frequency("dreimal im Jahr", months=4),
    "BIENNIAL": Frequency("alle zwei Jahre", months=24),
    "TRIENNIAL": Frequency("alle drei Jahre", months=36),
    "QUADRENNIAL": Frequency("alle vier Jahre", months=48),
    "QUINQUENNIAL": Frequency("alle fünf Jahre", months=60),
    "DECENNIAL": Frequency("alle zehn Jahre", months=120),
    "IRREG": Frequency("unregelmäßig"),
    "NEVER": Frequency("nie"),
    "OTHER": Frequency("sonstige"),
    "UNKNOWN": Frequency("unbekannt"),
}
"""Every EU frequency code of the registry (``etl.registry.FrequencyCode``); the labels
are those of the EU vocabulary (``etl/shapes/vocabularies.ttl``)."""


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus calendar months, the day clamped to the target month's length."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_due(frequency: str, last_change: dt.datetime) -> dt.datetime | None:
    """When the update after ``last_change`` is due (Europe/Berlin); None: no due date.

    The arithmetic is in local wall-clock time, so "weekly" after Friday 06:05 is the
    next Friday 06:05 also across a change to or from summer time.
    """
    rule = FREQUENCIES[frequency]
    if not rule.has_due_date:
        return None
    local = last_change.astimezone(BERLIN)
    due = add_months(local, rule.months) if rule.months else local
    return due + rule.delta


def grace(frequency: str) -> dt.timedelta:
    """How long after its due date an update counts as overdue: 10 % of the interval,
    clamped to 1–14 days (a department needs time to deliver, and the Friday run to
    pick the file up)."""
    share = FREQUENCIES[frequency].approximate * GRACE_SHARE
    return max(MIN_GRACE, min(MAX_GRACE, share))


State = Literal["no_due_date", "never_changed", "current", "overdue"]


@dataclass
class Freshness:
    """One dataset's freshness at a moment."""

    dataset: str
    title: str
    frequency: str
    label: str
    maintainer_email: str
    state: State
    last_run_at: dt.datetime | None = None
    last_run_status: str | None = None
    last_change_at: dt.datetime | None = None
    last_change_attempt: int | None = None
    due_at: dt.datetime | None = None
    overdue_after: dt.datetime | None = None

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (times in ISO 8601 with their offset)."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "dataset": self.dataset,
            "title": self.title,
            "frequency": self.frequency,
            "frequency_label": self.label,
            "state": self.state,
            "overdue": self.overdue,
            "last_run_at": iso(self.last_run_at),
            "last_run_status": self.last_run_status,
            "last_change_at": iso(self.last_change_at),
            "last_change_attempt": self.last_change_attempt,
            "due_at": iso(self.due_at),
            "overdue_after": iso(self.overdue_after),
        }


def _moment(attempt: Attempt) -> dt.datetime:
    return attempt.finished_at or attempt.started_at


def evaluate(
    dataset: Dataset,
    *,
    last_run: Attempt | None,
    last_change: Attempt | None,
    now: dt.datetime,
) -> Freshness:
    """The freshness of ``dataset`` at ``now`` from its last run and last change."""
    frequency = dataset.package.frequency
    result = Freshness(
        dataset=dataset.id,
        title=dataset.package.title,
        frequency=frequency,
        label=FREQUENCIES[frequency].label,
        maintainer_email=dataset.package.maintainer_email,
        state="no_due_date",
    )
    if last_run is not None:
        result.last_run_at = _moment(last_run).astimezone(BERLIN)
        result.last_run_status = last_run.status
    if last_change is not None:
        result.last_change_at = _moment(last_change).astimezone(BERLIN)
        result.last_change_attempt = last_change.id
    if not FREQUENCIES[frequency].has_due_date:
        return result
    if result.last_change_at is None:
        result.state = "never_changed"
        return result
    result.due_at = next_due(frequency, result.last_change_at)
    assert result.due_at is not None
    result.overdue_after = result.due_at + grace(frequency)
    result.state = "overdue" if now > result.overdue_after else "current"
    return result


def assess(dataset: Dataset, *, ledger: Ledger, now: dt.datetime | None = None) -> Freshness:
    """The freshness of ``dataset`` from the ledger at ``now`` (default: the current time)."""
    return evaluate(
        dataset,
        last_run=ledger.last_attempt(dataset.id),
        last_change=ledger.last_change(dataset.id),
        now=now or dt.datetime.now(dt.UTC),
    )


def assess_all(
    datasets: Mapping[str, Dataset], *, ledger: Ledger, now: dt.datetime | None = None
) -> list[Freshness]:
    """Every dataset's freshness, in registry order."""
    moment = now or dt.datetime.now(dt.UTC)
    return [assess(d, ledger=ledger, now=moment) for d in datasets.values()]


@dataclass
class OverdueReport:
    """What the daily freshness check found and whom it told."""

    checked: int
    overdue: list[Freshness] = field(default_factory=list)
    notified: dict[str, list[str]] = field(default_factory=dict)
    """Dataset id -> recipients reached by this check (maintainer mails)."""
    reminded_recently: dict[str, dt.datetime] = field(default_factory=dict)
    """Overdue datasets whose maintainer was told within the reminder interval."""
    team: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (XCom)."""
        return {
            "checked": self.checked,
            "overdue": [f.as_dict() for f in self.overdue],
            "notified": self.notified,
            "reminded_recently": {k: v.isoformat() for k, v in self.reminded_recently.items()},
            "team": self.team,
        }

    def lines(self) -> list[str]:
        """One German line per overdue dataset (task log, team mail)."""
        lines = []
        for item in self.overdue:
            assert item.due_at is not None and item.last_change_at is not None
            line = (
                f"{item.title} ({item.dataset}): {item.label}, letzte Aktualisierung "
                f"{german_date(item.last_change_at)}, fällig seit {german_date(item.due_at)}"
            )
            if item.dataset in self.notified:
                line += f" – Fachamt benachrichtigt ({', '.join(self.notified[item.dataset])})"
            elif item.dataset in self.reminded_recently:
                line += (
                    " – Fachamt bereits am "
                    f"{german_date(self.reminded_recently[item.dataset])} erinnert"
                )
            else:
                line += " – Fachamt nicht erreicht (E-Mail aus oder nicht zustellbar)"
            lines.append(line)
        return lines


def report_overdue(
    datasets: Mapping[str, Dataset],
    *,
    ledger: Ledger,
    notifier: Notifier,
    now: dt.datetime | None = None,
    portal_url: str | None = None,
) -> OverdueReport:
    """Find overdue datasets; mail their maintainers and the team.

    A maintainer is mailed when the dataset becomes overdue and again every
    :data:`REMINDER_INTERVAL` while the same update is missing; a delivered mail is
    recorded in the ledger. The team gets a summary of every overdue dataset whenever
    at least one maintainer is due for a mail (not on the days in between).

    Args:
        portal_url: the portal's API address, for dataset links when
            ``HARVEST_PORTAL_PUBLIC_URL`` is unset.
    """
    moment = now or dt.datetime.now(dt.UTC)
    report = OverdueReport(checked=len(datasets))
    report.overdue = [f for f in assess_all(datasets, ledger=ledger, now=moment) if f.overdue]
    due_for_mail = []
    for item in report.overdue:
        assert item.due_at is not None
        last = ledger.last_notice(item.dataset)
        told = last is not None and last.due_at == item.due_at
        if last is not None and told and moment - last.notified_at < REMINDER_INTERVAL:
            report.reminded_recently[item.dataset] = last.notified_at
            continue
        due_for_mail.append(item)
    for item in due_for_mail:
        assert item.due_at is not None and item.last_change_at is not None
        message = compose_overdue(
            notifier.settings,
            to=item.maintainer_email,
            dataset_title=item.title,
            frequency_label=item.label,
            last_change=item.last_change_at,
            due=item.due_at,
            link=notifier.settings.dataset_link(item.dataset, portal_url),
        )
        reached = notifier.deliver(message)
        if reached:
            report.notified[item.dataset] = reached
            ledger.record_notice(item.dataset, due_at=item.due_at, recipients=reached, at=moment)
    for line in report.lines():
        log.warning("überfällig: %s", line)
    if due_for_mail:
        count = len(report.overdue)
        noun = "Datensatz" if count == 1 else "Datensätze"
        text = "\n".join(
            [
                f"Stand {german_date(moment)}: {count} {noun} mit überfälliger Aktualisierung "
                "(laut Aktualisierungshäufigkeit auf dem Portal).",
                "",
                *(f"  - {line}" for line in report.lines()),
                "",
                "Übersicht aller Datensätze: `harvest status`.",
            ]
        )
        report.team = notifier.team(f"Überfällige Aktualisierungen: {count} {noun}", text)
    return report
