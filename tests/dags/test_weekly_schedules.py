"""The weekly rhythm in Airflow's own schedule arithmetic (Europe/Berlin, summer and winter
time): dataset updates on Friday mornings by default (#stayuptodata), releases on
Wednesday mornings (#openwednesday), the freshness check every morning."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from airflow.timetables.base import TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable
from harvest_airflow.factory import FRESHNESS_SCHEDULE, RELEASE_SCHEDULE, TIMEZONE

from etl.registry import DEFAULT_SCHEDULE, load_registry

BERLIN = ZoneInfo("Europe/Berlin")
WINTER = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # a Wednesday
SUMMER = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)  # a Tuesday


def next_run(cron: str, after: dt.datetime) -> dt.datetime:
    """The first scheduled run at or after ``after``, in Düsseldorf time."""
    timetable = CronTriggerTimetable(cron, timezone=TIMEZONE)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(
            earliest=after + dt.timedelta(minutes=1), latest=None, catchup=True
        ),
    )
    assert info is not None
    return info.run_after.astimezone(BERLIN)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        (DEFAULT_SCHEDULE, WINTER, dt.datetime(2025, 1, 3, 6, 0, tzinfo=BERLIN)),
        (DEFAULT_SCHEDULE, SUMMER, dt.datetime(2025, 7, 4, 6, 0, tzinfo=BERLIN)),
        (RELEASE_SCHEDULE, WINTER, dt.datetime(2025, 1, 1, 8, 0, tzinfo=BERLIN)),
        (RELEASE_SCHEDULE, SUMMER, dt.datetime(2025, 7, 2, 8, 0, tzinfo=BERLIN)),
        (FRESHNESS_SCHEDULE, WINTER, dt.datetime(2025, 1, 1, 7, 0, tzinfo=BERLIN)),
        (FRESHNESS_SCHEDULE, SUMMER, dt.datetime(2025, 7, 1, 7, 0, tzinfo=BERLIN)),
    ],
)
def test_runs_fall_on_the_local_weekday_and_hour(
    cron: str, after: dt.datetime, expected: dt.datetime
) -> None:
    run = next_run(cron, after)
    assert run == expected
    assert (run.hour, run.weekday()) == (expected.hour, expected.weekday())


def test_default_update_day_is_friday_and_wednesday_is_release_day() -> None:
    assert next_run(DEFAULT_SCHEDULE, WINTER).strftime("%A %H:%M") == "Friday 06:00"
    assert next_run(RELEASE_SCHEDULE, WINTER).strftime("%A %H:%M") == "Wednesday 08:00"


def test_datasets_update_on_friday_unless_their_entry_says_otherwise() -> None:
    schedules = {d.id: d.schedule for d in load_registry().values()}
    # the registry's deliberate exceptions, each commented in its YAML
    assert {k: v for k, v in schedules.items() if v != DEFAULT_SCHEDULE} == {
        "sirenenstandorte": "0 6 * * 1",
        "stadtbezirke": "0 6 1 * *",
    }
