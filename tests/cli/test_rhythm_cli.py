"""`harvest status`, `harvest releases` and `harvest release` without a portal: what the
operator sees, exit codes. The ledger is built in the test's work dir with back-dated
records, and the clock is given with `--at`. Releases on the real CKAN:
tests/integration/test_release_portal.py."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from etl.ledger import Ledger, OutputRecord, attempts
from tests.cli.test_harvest_cli import assert_no_traceback, harvest
from tests.conftest import PROJECT

BERLIN = ZoneInfo("Europe/Berlin")


def record(work: Path, dataset: str, at: dt.datetime, actions: tuple[str, ...]) -> None:
    """A successful publish of ``dataset`` at ``at`` with output ``actions``."""
    ledger = Ledger(f"sqlite:///{work / 'ledger.sqlite'}", archive_dir=work / "archive")
    attempt = ledger.begin(dataset, f"run-{at.isoformat()}")
    ledger.finish(
        attempt,
        status="success",
        outputs_=[
            OutputRecord(f"{dataset}-{i}", "CSV", "b" * 64, 1, a) for i, a in enumerate(actions)
        ],
    )
    moment = at.astimezone(dt.UTC)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt)
            .values(started_at=moment, finished_at=moment)
        )


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.setenv("HARVEST_WORK_DIR", str(folder))  # the ledger's lock folder
    return folder


def test_help_lists_the_weekly_rhythm_commands() -> None:
    result = harvest("--help")
    for command in ("release", "releases", "status"):
        assert command in result.stdout


def test_status_shows_last_run_last_change_due_date_and_overdue(work) -> None:
    record(work, "vornamen", dt.datetime(2024, 3, 1, 6, 5, tzinfo=BERLIN), ("updated", "updated"))
    # the Friday runs since changed nothing: not an update
    record(work, "vornamen", dt.datetime(2025, 3, 14, 6, 5, tzinfo=BERLIN), ("unchanged",) * 2)
    record(work, "stadtbezirke", dt.datetime(2019, 1, 4, 6, 5, tzinfo=BERLIN), ("created",))
    env = {"HARVEST_WORK_DIR": str(work)}

    result = harvest("status", "--at", "2025-03-20T07:00", env=env)
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    vornamen = [cell.strip() for cell in rows["vornamen"].split("│")[1:-1]]
    assert vornamen == [
        "vornamen",
        "ANNUAL",
        "2025-03-14 06:05 success",
        "2024-03-01 06:05",
        "2025-03-01 06:05",
        "yes (since 2025-03-15 06:05)",
    ]
    stadtbezirke = [cell.strip() for cell in rows["stadtbezirke"].split("│")[1:-1]]
    assert stadtbezirke[1:] == [
        "IRREG",
        "2019-01-04 06:05 success",
        "2019-01-04 06:05",
        "–",
        "– (no due date)",
    ]
    assert "– (never published)" in rows["feuerwehr-brandeinsaetze"]
    assert "1 of 9 dataset(s) overdue as of 2025-03-20 07:00 (Europe/Berlin)" in result.stdout

    # two weeks earlier the same ledger is within the grace period
    earlier = harvest("status", "--json", "--at", "2025-03-06T07:00+01:00", env=env)
    assert earlier.returncode == 0, earlier.stderr
    states = {d["dataset"]: d for d in json.loads(earlier.stdout)["datasets"]}
    assert states["vornamen"]["state"] == "current"
    assert states["vornamen"]["due_at"] == "2025-03-01T06:05:00+01:00"
    assert states["vornamen"]["overdue_after"] == "2025-03-15T06:05:00+01:00"
    assert states["vornamen"]["frequency_label"] == "jährlich"
    assert states["stadtbezirke"]["state"] == "no_due_date"


def test_status_with_a_bad_time_is_a_configuration_error(work) -> None:
    result = harvest("status", "--at", "next friday", env={"HARVEST_WORK_DIR": str(work)})
    assert result.returncode == 4
    assert "no ISO 8601 time" in result.stderr
    assert_no_traceback(result)


@pytest.fixture
def queued_registry(tmp_path) -> dict[str, str]:
    """A registry with one queued dataset, and the environment pointing at it."""
    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copy(PROJECT / "registry" / "_portal.yaml", registry)
    text = (PROJECT / "registry" / "flaeche-stadtbezirke.yaml").read_text(encoding="utf-8")
    (registry / "flaeche-stadtbezirke.yaml").write_text(
        text + "\nrelease: queued\nrelease_order: 2\n", encoding="utf-8"
    )
    shutil.copy(PROJECT / "registry" / "vornamen.yaml", registry)  # public: not queued
    return {"HARVEST_REGISTRY": str(registry), "CKAN_URL": ""}


def test_releases_without_portal_shows_the_queue_and_that_the_portal_was_not_checked(
    work, queued_registry
) -> None:
    record(work, "flaeche-stadtbezirke", dt.datetime(2025, 3, 7, 6, 5, tzinfo=BERLIN), ("created",))
    env = {**queued_registry, "HARVEST_WORK_DIR": str(work)}

    result = harvest("releases", env=env)
    assert result.returncode == 0, result.stderr
    assert "release queue (next first)" in result.stdout
    [row] = [line for line in result.stdout.splitlines() if "flaeche-stadtbezirke" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:6] == ["1", "flaeche-stadtbezirke", "2", "2025-03-07 06:05", "yes", "?"]
    assert cells[6].startswith("no: Portal nicht geprüft")
    assert "release history: none yet" in result.stdout

    listed = json.loads(harvest("releases", "--json", env=env).stdout)
    [entry] = listed["queue"]
    assert (entry["dataset"], entry["validated"], entry["on_portal"], entry["ready"]) == (
        "flaeche-stadtbezirke",
        True,
        None,
        False,
    )
    assert listed["history"] == []


def test_release_needs_the_portal_configuration(work, queued_registry) -> None:
    result = harvest("release", env={**queued_registry, "HARVEST_WORK_DIR": str(work)})
    assert result.returncode == 4
    assert "CKAN_URL is not set" in result.stderr
    assert_no_traceback(result)
