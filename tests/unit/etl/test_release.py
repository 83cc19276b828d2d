"""The release queue without a portal (etl/release.py): order, readiness from the ledger,
the release record winning over the registry, the announcement draft. The release on
the real CKAN is in tests/integration/test_release_portal.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from etl import release
from etl.ledger import Ledger, OutputRecord, attempts
from etl.portal import package_fields
from etl.registry import Dataset, get_dataset

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Ledger:
    monkeypatch.setenv("HARVEST_WORK_DIR", str(tmp_path))
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", archive_dir=tmp_path / "archive")


def queued(source_id: str, new_id: str, order: int | None = None) -> Dataset:
    return get_dataset(source_id).model_copy(
        update={"id": new_id, "release": "queued", "release_order": order}
    )


def built(ledger: Ledger, dataset_id: str, day: int, status: str = "success") -> int:
    """A finished publish attempt on ``day`` March 2025 (back-dated)."""
    attempt = ledger.begin(dataset_id, f"run-{dataset_id}-{day}-{status}")
    ledger.finish(
        attempt,
        status=status,  # type: ignore[arg-type]
        outputs_=[OutputRecord(f"{dataset_id}.csv", "CSV", "a" * 64, 10, "created")]
        if status == "success"
        else [],
        error=None if status == "success" else "Daten ungültig – 1 Prüfung(en) nicht bestanden",
    )
    moment = dt.datetime(2025, 3, day, 6, 5, tzinfo=BERLIN).astimezone(dt.UTC)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt)
            .values(started_at=moment, finished_at=moment)
        )
    return attempt


def test_queue_order_release_order_then_first_come_first_served_then_id(ledger) -> None:
    datasets = {
        d.id: d
        for d in (
            queued("flaeche-stadtbezirke", "d-late-build"),
            queued("flaeche-stadtbezirke", "c-early-build"),
            queued("flaeche-stadtbezirke", "z-ordered-2", order=2),
            queued("flaeche-stadtbezirke", "y-ordered-1", order=1),
            queued("flaeche-stadtbezirke", "b-never-built"),
            queued("flaeche-stadtbezirke", "a-never-built"),
            queued("flaeche-stadtbezirke", "e-released"),
            get_dataset("vornamen"),  # public: not in the queue
        )
    }
    built(ledger, "d-late-build", 7)
    built(ledger, "c-early-build", 3)
    built(ledger, "c-early-build", 10)  # a later build does not move it back
    built(ledger, "z-ordered-2", 20)
    built(ledger, "y-ordered-1", 21)
    built(ledger, "e-released", 1)
    done = ledger.begin_release("e-released", "r1", attempt_id=None, portal_url=None)
    ledger.finish_release(done, status="released")

    assert [d.id for d in release.ordered(datasets, ledger)] == [
        "y-ordered-1",
        "z-ordered-2",
        "c-early-build",
        "d-late-build",
        "a-never-built",
        "b-never-built",
    ]


def test_readiness_from_the_ledger_names_the_reason(ledger) -> None:
    never = queued("flaeche-stadtbezirke", "never-built")
    broken = queued("flaeche-stadtbezirke", "last-invalid")
    fine = queued("flaeche-stadtbezirke", "validated")
    built(ledger, broken.id, 3)
    invalid = built(ledger, broken.id, 5, status="invalid")
    ok = built(ledger, fine.id, 4)
    running = ledger.begin(fine.id, "still-running")  # a run in progress does not count
    assert running != ok

    entry = release.readiness(never, position=1, ledger=ledger, portal=None)
    assert (entry.validated, entry.ready) == (False, False)
    assert entry.reason == "noch nie gebaut (kein abgeschlossener Lauf im Ledger)"

    entry = release.readiness(broken, position=2, ledger=ledger, portal=None)
    assert (entry.validated, entry.attempt_id) == (False, invalid)
    assert entry.reason == (
        f"letzte Prüfung nicht bestanden (Lauf #{invalid} vom 05.03.2025, Status invalid: "
        "Daten ungültig – 1 Prüfung(en) nicht bestanden)"
    )

    entry = release.readiness(fine, position=3, ledger=ledger, portal=None)
    assert (entry.validated, entry.attempt_id, entry.on_portal) == (True, ok, None)
    assert entry.reason == "Portal nicht geprüft (CKAN_URL nicht gesetzt)"
    assert not entry.ready  # without the portal nobody knows whether the package is there


def test_the_release_record_wins_over_the_registry(ledger) -> None:
    dataset = queued("flaeche-stadtbezirke", "wins")
    assert package_fields(release.effective(dataset, ledger))["private"] is True

    pending = ledger.begin_release(dataset.id, "run-1", attempt_id=None, portal_url=None)
    assert release.effective(dataset, ledger).release == "queued"  # not public yet
    ledger.finish_release(pending, status="failed", error="portal down")
    assert release.effective(dataset, ledger).release == "queued"

    done = ledger.begin_release(dataset.id, "run-2", attempt_id=None, portal_url=None)
    ledger.finish_release(done, status="released")
    assert package_fields(release.effective(dataset, ledger))["private"] is False
    assert release.apply_releases({dataset.id: dataset}, ledger)[dataset.id].release == "public"
    assert ledger.release_of_run("run-2").id == done  # type: ignore[union-attr]
    assert ledger.release_of_run("run-1") is None
    assert [r.status for r in ledger.releases(dataset.id)] == ["released", "failed"]


def test_short_description_keeps_whole_sentences_within_the_budget() -> None:
    text = "Erster Satz mit Inhalt.  Zweiter\n Satz folgt! " + "Dritter Satz ist lang. " * 20
    kept = release.short_description(text, limit=60)
    assert kept == "Erster Satz mit Inhalt. Zweiter Satz folgt!"
    dated = "Stand ist der 1. Januar eines Jahres. Danach folgt mehr Text."
    assert release.short_description(dated, limit=40) == "Stand ist der 1. Januar eines Jahres."
    long = "Ein einziger sehr langer Satz " + "mit vielen Wörtern " * 30
    cut = release.short_description(long, limit=80)
    assert cut.endswith("…") and len(cut) <= 80 and not cut[:-1].endswith(" ")


def test_announcement_draft_is_german_with_title_text_link_and_hashtag() -> None:
    dataset = get_dataset("vornamen")
    text = release.announcement(dataset, "https://opendata.duesseldorf.de/dataset/vornamen")
    paragraphs = text.strip().split("\n\n")
    assert paragraphs[0] == (
        "Neu im Open-Data-Portal Düsseldorf: Vornamen von Neugeborenen in Düsseldorf"
    )
    assert paragraphs[1].startswith("Die Vornamen aller in Düsseldorf beurkundeten Neugeborenen")
    assert len(paragraphs[1]) <= release.SHORT_DESCRIPTION_CHARS
    assert paragraphs[2] == "Zum Datensatz: https://opendata.duesseldorf.de/dataset/vornamen"
    assert paragraphs[3].split() == [
        "#openwednesday",
        "#OpenData",
        "#Düsseldorf",
        "#Vornamen",
        "#Geburten",
        "#Standesamt",
    ]


def test_draft_file_is_named_by_the_date_in_duesseldorf(tmp_path) -> None:
    late_tuesday_utc = dt.datetime(2025, 3, 11, 23, 30, tzinfo=dt.UTC)  # Wednesday in Berlin
    path = release.write_announcement("Text\n", "vornamen", late_tuesday_utc, tmp_path / "a")
    assert path == tmp_path / "a" / "2025-03-12_vornamen.md"
    assert path.read_text(encoding="utf-8") == "Text\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["2025-03-12_vornamen.md"]


def test_outcome_messages_in_german() -> None:
    assert (
        release.ReleaseOutcome(status="empty", queue_length=0).message
        == "Freigabe-Warteschlange leer: kein Datensatz freizugeben."
    )
    assert release.ReleaseOutcome(status="none_ready", queue_length=1).message == (
        "Kein Datensatz freigegeben: der einzige Datensatz in der Warteschlange ist nicht bereit."
    )
    assert release.ReleaseOutcome(status="none_ready", queue_length=3).message == (
        "Kein Datensatz freigegeben: keiner der 3 Datensätze in der Warteschlange ist bereit."
    )
