"""The run ledger on both backends: SQLite (default) and the test stack's PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from devstack.postgres import create_database, drop_database
from etl.errors import ConfigError
from etl.ledger import Ledger, LockBusy, OutputRecord


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path, portal_stack):
    if request.param == "sqlite":
        yield Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", archive_dir=tmp_path / "archive")
        return
    name = f"harvest_ledger_{uuid.uuid4().hex[:8]}"
    url = create_database(portal_stack.postgres.url, name)
    ledger = Ledger(url, archive_dir=tmp_path / "archive")
    assert ledger.is_postgres
    yield ledger
    ledger.engine.dispose()
    drop_database(portal_stack.postgres.url, name)


def test_attempt_lifecycle_and_history(ledger, tmp_path) -> None:
    first = ledger.begin(
        "ds", "run-1", inputs=[{"name": "a.csv", "sha256": "ab" * 32}], portal_url="http://p"
    )
    ledger.update(first, validation={"rows": 3})
    out = tmp_path / "ds.csv"
    out.write_text("x;y\n1;2\n", encoding="utf-8")
    archived = ledger.archive("ds", out, "cd" * 32, "ds.csv")
    ledger.finish(
        first,
        status="success",
        outputs_=[
            OutputRecord(
                "ds.csv", "CSV", "cd" * 32, out.stat().st_size, "created", str(archived), "rid"
            )
        ],
        facts={"spatial": {"type": "Polygon"}},
    )
    second = ledger.begin("ds", "run-2")
    ledger.finish(second, status="failed", error="portal down")
    ledger.begin("other", "run-1")

    history = ledger.history("ds")
    assert [(a.run_id, a.status) for a in history] == [("run-2", "failed"), ("run-1", "success")]
    done = history[1]
    assert done.inputs == [{"name": "a.csv", "sha256": "ab" * 32}]
    assert done.validation == {"rows": 3}
    assert done.facts == {"spatial": {"type": "Polygon"}}
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert [(o.resource, o.action, o.resource_id) for o in done.outputs] == [
        ("ds.csv", "created", "rid")
    ]
    assert Path(done.outputs[0].archived_path).read_text(encoding="utf-8") == "x;y\n1;2\n"
    assert ledger.last_success("ds").id == first
    assert ledger.get(second).error == "portal down"


def test_a_retried_task_reuses_its_attempt(ledger) -> None:
    first = ledger.begin("ds", "manual__1")
    ledger.finish(first, status="failed", error="timeout")
    again = ledger.begin("ds", "manual__1")
    assert again == first
    assert ledger.get(first).status == "running"
    assert len(ledger.history("ds")) == 1


def test_archive_is_content_addressed(ledger, tmp_path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("same", encoding="utf-8")
    first = ledger.archive("ds", a, "ef" * 32, "ds.csv")
    second = ledger.archive("ds", a, "ef" * 32, "ds.csv")
    assert first == second and first.read_text(encoding="utf-8") == "same"


def test_lock_serializes_publishes_of_one_dataset(ledger) -> None:
    events: list[str] = []
    holding = threading.Event()

    def holder() -> None:
        with ledger.lock("ds"):
            holding.set()
            events.append("A in")
            time.sleep(1.0)
            events.append("A out")

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(10)
    other = Ledger(ledger.url, archive_dir=ledger.archive_dir)  # another process's view
    with pytest.raises(LockBusy, match="another publish"), other.lock("ds", wait_seconds=0.3):
        pass
    with other.lock("ds-else", wait_seconds=0.3):  # other datasets are not blocked
        events.append("other dataset")
    with other.lock("ds", wait_seconds=10):
        events.append("B in")
    thread.join()
    assert events == ["A in", "other dataset", "A out", "B in"]


def test_unusable_database_is_a_config_error_without_password() -> None:
    with pytest.raises(ConfigError, match="run ledger database not usable") as caught:
        Ledger("postgresql://harvest:s3cret-pw@127.0.0.1:9/none")
    assert "s3cret-pw" not in str(caught.value)
    assert caught.value.exit_code == 4
