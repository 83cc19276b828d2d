"""Drop folders without portal: ignore rules, stability, claim and queue order, filing,
duplicate detection, input sets of modes replace and add, crash resume (etl/dropzone.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from etl import dropzone, pipeline
from etl.dropzone import QUEUE_DIR, Settings, StabilityWatch
from etl.ledger import Ledger
from etl.notify import MailSettings, Notifier
from etl.registry import get_dataset
from tests.conftest import PROJECT

SAMPLES = PROJECT / "samples" / "vornamen"
VALID_2021_W = (SAMPLES / "Vornamen_2021_weiblich.csv").read_bytes()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", archive_dir=tmp_path / "archive")


@pytest.fixture
def quiet() -> Notifier:
    """A notifier that sends nothing (no SMTP host)."""
    return Notifier(settings=MailSettings())


# --------------------------------------------------------------------------- ignore rules


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.csv",
        ".DS_Store",
        "export.csv.part",
        "export.CSV.PART",
        "upload.tmp",
        "~$Vornamen.xlsx",
        "Thumbs.db",
        "desktop.ini",
    ],
)
def test_temporary_hidden_lock_and_system_files_are_ignored(name: str) -> None:
    assert dropzone.is_ignored(name)


@pytest.mark.parametrize("name", ["Vornamen_2024.csv", "daten.xlsx", "tmp_liste.csv", "a~$b.csv"])
def test_ordinary_files_are_candidates(name: str) -> None:
    assert not dropzone.is_ignored(name)


def test_candidates_skip_folders_symlinks_and_ignored_files(tmp_path) -> None:
    (tmp_path / "archiv").mkdir()
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.csv.part").write_text("x")
    (tmp_path / "link.csv").symlink_to(tmp_path / "a.csv")
    assert [p.name for p in dropzone.candidates(tmp_path)] == ["a.csv"]


# --------------------------------------------------------------------------- stability


def test_a_file_is_stable_only_after_the_settle_interval_unchanged(tmp_path) -> None:
    clock = FakeClock()
    watch = StabilityWatch(5, clock=clock)
    path = tmp_path / "a.csv"
    path.write_text("1")
    assert watch.stable([path]) == []  # first sight
    clock.now += 3
    assert watch.stable([path]) == []  # unchanged, but not long enough
    clock.now += 2
    assert watch.stable([path]) == [path]


def test_a_growing_file_is_not_stable(tmp_path) -> None:
    clock = FakeClock()
    watch = StabilityWatch(5, clock=clock)
    path = tmp_path / "big.csv"
    path.write_text("1")
    watch.stable([path])
    for size in range(2, 5):
        clock.now += 10
        path.write_text("1" * size)  # a copy in progress: size and mtime change
        assert watch.stable([path]) == []
        assert watch.waiting() == [path]
    clock.now += 10
    assert watch.stable([path]) == [path]


def test_a_changed_mtime_alone_restarts_the_settle_interval(tmp_path) -> None:
    clock = FakeClock()
    watch = StabilityWatch(5, clock=clock)
    path = tmp_path / "a.csv"
    path.write_text("same")
    watch.stable([path])
    clock.now += 10
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert watch.stable([path]) == []


def test_settle_zero_takes_files_at_first_sight(tmp_path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("1")
    assert StabilityWatch(0).stable([path]) == [path]


# --------------------------------------------------------------------------- claim and queue


def test_claim_moves_the_file_into_its_own_slot_and_keeps_its_name(tmp_path) -> None:
    path = tmp_path / "Vornamen_2024_weiblich.csv"
    path.write_bytes(b"abc")
    inode = path.stat().st_ino
    item = dropzone.claim(path)
    assert item is not None
    assert not path.exists()
    assert item.path.parent.parent == tmp_path / QUEUE_DIR
    assert item.name == "Vornamen_2024_weiblich.csv"
    assert item.path.read_bytes() == b"abc"
    assert item.path.stat().st_ino == inode  # renamed, not copied
    assert abs(item.claimed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_claim_of_a_vanished_file_returns_none_and_leaves_no_slot(tmp_path) -> None:
    assert dropzone.claim(tmp_path / "weg.csv") is None
    assert list((tmp_path / QUEUE_DIR).iterdir()) == []


def test_queue_keeps_claim_order_even_within_one_microsecond(tmp_path) -> None:
    moment = dt.datetime(2025, 1, 31, 9, 0, tzinfo=dt.UTC)
    names = ["z.csv", "a.csv", "m.csv"]
    for name in names:
        (tmp_path / name).write_text(name)
        dropzone.claim(tmp_path / name, now=moment)
    assert [i.name for i in dropzone.queue(tmp_path)] == names
    assert dropzone.head(tmp_path).name == "z.csv"


def test_poll_claims_stable_files_in_drop_order_and_leaves_partial_ones(tmp_path) -> None:
    clock = FakeClock()
    watch = StabilityWatch(2, clock=clock)
    first, second = tmp_path / "b_first.csv", tmp_path / "a_second.csv"
    first.write_text("1")
    second.write_text("2")
    # the second file was completed later (its inode changed later)
    os.utime(second)
    (tmp_path / "c.csv.part").write_text("copy in progress")
    claimed, queued = dropzone.poll(tmp_path, watch)
    assert claimed == [] and queued == []
    clock.now += 3
    claimed, queued = dropzone.poll(tmp_path, watch)
    assert [i.name for i in claimed] == [first.name, second.name]
    assert [i.name for i in queued] == [first.name, second.name]
    assert (tmp_path / "c.csv.part").exists()
    assert {p.name for p in tmp_path.iterdir()} >= {"archiv", "abgelehnt", QUEUE_DIR}


def test_item_ids_round_trip(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("1")
    item = dropzone.claim(tmp_path / "a.csv")
    assert dropzone.item_from_id(tmp_path, item.id) == item


def test_filed_name_keeps_name_and_suffix_and_adds_time_and_short_hash(tmp_path) -> None:
    (tmp_path / "Vornamen 2024.csv").write_text("1")
    item = dropzone.claim(
        tmp_path / "Vornamen 2024.csv", now=dt.datetime(2025, 1, 31, 9, 5, 7, tzinfo=dt.UTC)
    )
    sha = "0123456789abcdef" * 4
    assert dropzone.filed_name(item, sha) == "Vornamen 2024__2025-01-31_10-05-07__01234567.csv"
    assert dropzone.filed_name(item, sha, "duplikat").endswith("__01234567__duplikat.csv")


# --------------------------------------------------------------------------- settings


def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HARVEST_DROPZONE", str(tmp_path))
    monkeypatch.setenv("HARVEST_DROPZONE_POLL_SECONDS", "2")
    monkeypatch.setenv("HARVEST_DROPZONE_SETTLE_SECONDS", "0")
    settings = Settings.from_env()
    assert (settings.root, settings.poll_seconds, settings.settle_seconds) == (tmp_path, 2.0, 0.0)


def test_default_root_is_under_the_work_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("HARVEST_DROPZONE", raising=False)
    monkeypatch.setenv("HARVEST_WORK_DIR", str(tmp_path))
    assert dropzone.dropzone_root() == tmp_path / "dropzone"


def test_bad_setting_is_a_config_error(monkeypatch) -> None:
    from etl.errors import ConfigError

    monkeypatch.setenv("HARVEST_DROPZONE_SETTLE_SECONDS", "fünf")
    with pytest.raises(ConfigError, match="HARVEST_DROPZONE_SETTLE_SECONDS"):
        Settings.from_env()


# --------------------------------------------------------------------------- input sets


def _success(ledger: Ledger, dataset_id: str, records: list[dict], run_id: str = "r1") -> None:
    """Record a successful publish of ``records`` (archiving the inputs as a publish does)."""
    attempt = ledger.begin(dataset_id, run_id, inputs=records)
    ledger.finish(
        attempt,
        status="success",
        inputs=[ledger.archive_input(dataset_id, r) for r in records],
    )


def _drop(folder: Path, name: str, content: bytes) -> dropzone.QueueItem:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    item = dropzone.claim(folder / name)
    assert item is not None
    return item


def test_replace_mode_input_set_is_the_dropped_file_alone(tmp_path, ledger) -> None:
    dataset = get_dataset("flaeche-stadtbezirke")
    assert dataset.dropzone.mode == "replace"
    source = PROJECT / "samples" / "flaeche-stadtbezirke" / "distric_area.csv"
    item = _drop(tmp_path / dataset.id, "flaeche_2025.csv", source.read_bytes())
    prepared = dropzone.prepare(dataset, item, ledger)
    assert prepared.action == "process"
    assert prepared.paths == [item.path]
    [record] = prepared.inputs
    assert record["origin"] == "dropzone" and record["queued_as"] == item.id


def test_same_bytes_as_the_last_published_input_are_a_duplicate(tmp_path, ledger) -> None:
    dataset = get_dataset("flaeche-stadtbezirke")
    content = (PROJECT / "samples" / "flaeche-stadtbezirke" / "distric_area.csv").read_bytes()
    first = _drop(tmp_path / dataset.id, "flaeche.csv", content)
    _success(ledger, dataset.id, dropzone.prepare(dataset, first, ledger).inputs)
    again = _drop(tmp_path / dataset.id, "flaeche_nochmal.csv", content)
    assert dropzone.prepare(dataset, again, ledger).action == "duplicate"
    changed = _drop(tmp_path / dataset.id, "flaeche.csv", content + b"\n")
    assert dropzone.prepare(dataset, changed, ledger).action == "process"


def test_add_mode_joins_the_published_set_and_replaces_the_same_year_and_gender(
    tmp_path, ledger
) -> None:
    dataset = get_dataset("vornamen")
    assert dataset.dropzone.mode == "add"
    # nothing published yet: the set starts from the registry's source paths
    item = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich.csv", VALID_2021_W)
    prepared = dropzone.prepare(dataset, item, ledger)
    samples = sorted(p.name for p in SAMPLES.glob("*.csv"))
    assert sorted(r["name"] for r in prepared.inputs) == sorted([*samples, item.name])
    _success(ledger, "vornamen", prepared.inputs)
    dropzone.conclude_published(dataset, prepared, notifier=Notifier(settings=MailSettings()))

    # a corrected list of 2021, female: replaces that member only
    corrected = VALID_2021_W.replace(b"\n", b"\r\n")
    item = _drop(tmp_path / "vornamen", "vornamen-2021-weiblich-korrigiert.csv", corrected)
    prepared = dropzone.prepare(dataset, item, ledger)
    assert prepared.action == "process"
    assert prepared.replaces == ["Vornamen_2021_weiblich.csv"]
    names = sorted(r["name"] for r in prepared.inputs)
    assert "Vornamen_2021_weiblich.csv" not in names
    assert {"Vornamen_2024_weiblich.csv", "Vornamen_2021_maennlich.csv", item.name} <= set(names)
    # carried members are read from their archived copies, which keep their names
    for record in prepared.inputs:
        if record.get("queued_as") != item.id:
            assert Path(record["path"]).name == record["name"]
            assert str(ledger.archive_dir) in record["path"]


def test_add_mode_same_member_again_is_a_duplicate(tmp_path, ledger) -> None:
    dataset = get_dataset("vornamen")
    item = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich.csv", VALID_2021_W)
    _success(ledger, "vornamen", dropzone.prepare(dataset, item, ledger).inputs)
    again = _drop(tmp_path / "vornamen", "Vornamen_2024_w.csv", VALID_2021_W)
    # same bytes, but the name says no gender: another partition key, the set grows
    assert dropzone.prepare(dataset, again, ledger).action == "process"
    same = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich (Kopie).csv", VALID_2021_W)
    assert dropzone.prepare(dataset, same, ledger).action == "duplicate"


def test_a_file_published_before_a_crash_is_resumed_not_published_again(tmp_path, ledger) -> None:
    dataset = get_dataset("flaeche-stadtbezirke")
    content = (PROJECT / "samples" / "flaeche-stadtbezirke" / "distric_area.csv").read_bytes()
    item = _drop(tmp_path / dataset.id, "flaeche.csv", content)
    _success(ledger, dataset.id, dropzone.prepare(dataset, item, ledger).inputs)
    # the process died after the ledger said success, before the file was filed
    assert dropzone.head(tmp_path / dataset.id) == item
    assert dropzone.prepare(dataset, item, ledger).action == "resumed"


def test_a_type_the_dataset_does_not_accept_is_rejected_before_reading(tmp_path, ledger) -> None:
    dataset = get_dataset("vornamen")
    item = _drop(tmp_path / "vornamen", "Vornamen_2024.xlsx", b"PK\x03\x04")
    prepared = dropzone.prepare(dataset, item, ledger)
    assert prepared.action == "reject"
    assert "Dateityp .xlsx" in prepared.error


def test_prepared_survives_xcom(tmp_path, ledger) -> None:
    dataset = get_dataset("vornamen")
    item = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich.csv", VALID_2021_W)
    prepared = dropzone.prepare(dataset, item, ledger)
    import json

    again = dropzone.Prepared.from_dict(json.loads(json.dumps(prepared.as_dict())))
    assert again == prepared


def test_scheduled_runs_use_the_dropped_set_but_check_uses_the_samples(tmp_path, ledger) -> None:
    dataset = get_dataset("vornamen")
    samples = pipeline.resolve_inputs(dataset)
    assert pipeline.resolve_inputs(dataset, ledger=ledger) == samples  # nothing dropped yet
    # a publish from the source paths does not make them the current set
    _success(ledger, "vornamen", pipeline.describe_inputs(samples), run_id="friday")
    assert pipeline.dropped_input_set(ledger, dataset) is None
    item = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich.csv", VALID_2021_W)
    _success(ledger, "vornamen", dropzone.prepare(dataset, item, ledger).inputs, run_id="drop")
    paths, records = pipeline.run_inputs(dataset, ledger=ledger)
    assert sorted(p.name for p in paths) == sorted([*(p.name for p in samples), item.name])
    assert all(str(ledger.archive_dir) in str(p) for p in paths)
    assert [r["origin"] for r in records].count("dropzone") == 1
    assert pipeline.resolve_inputs(dataset) == samples  # harvest check DATASET


def test_an_altered_archived_input_is_a_config_error(tmp_path, ledger) -> None:
    from etl.errors import ConfigError

    dataset = get_dataset("vornamen")
    item = _drop(tmp_path / "vornamen", "Vornamen_2024_weiblich.csv", VALID_2021_W)
    _success(ledger, "vornamen", dropzone.prepare(dataset, item, ledger).inputs)
    archived = next((ledger.archive_dir / "vornamen" / "inputs").rglob("Vornamen_2024_*.csv"))
    archived.write_bytes(b"tampered")
    with pytest.raises(ConfigError, match="missing or altered"):
        pipeline.dropped_input_set(ledger, dataset)


# --------------------------------------------------------------------------- whole passes


def test_run_once_dry_run_files_valid_and_invalid_and_leaves_partial_files(
    tmp_path, ledger, quiet
) -> None:
    root = tmp_path / "dropzone"
    folder = root / "vornamen"
    folder.mkdir(parents=True)
    (folder / "Vornamen_2024_weiblich.csv").write_bytes(VALID_2021_W)
    (folder / "Vornamen_2020_weiblich.csv").write_text("Name;Anzahl\nAnna;0\n", encoding="utf-8")
    (folder / "Vornamen_2019.csv.part").write_bytes(VALID_2021_W)
    result = dropzone.run_once(
        Settings(root=root, settle_seconds=0),
        {"vornamen": get_dataset("vornamen")},
        ledger=ledger,
        portal=None,
        notifier=quiet,
        dry_run=True,
    )
    by_file = {o.file: o for o in result.outcomes}
    assert by_file["Vornamen_2024_weiblich.csv"].status == "dry_run"
    assert by_file["Vornamen_2020_weiblich.csv"].status == "rejected"
    assert result.exit_code == 1
    [archived] = (folder / "archiv").iterdir()
    assert archived.name.endswith("__probelauf.csv")
    rejected = sorted(p.name for p in (folder / "abgelehnt").iterdir())
    assert len(rejected) == 3 and rejected[1].endswith(".bericht.html")
    assert (folder / "Vornamen_2019.csv.part").exists()
    assert dropzone.queue(folder) == []
    assert ledger.history("vornamen") == []  # a dry run records nothing


def test_unknown_folder_gets_a_report_and_the_file_is_kept(tmp_path, ledger, quiet) -> None:
    root = tmp_path / "dropzone"
    (root / "gibt-es-nicht").mkdir(parents=True)
    (root / "gibt-es-nicht" / "daten.csv").write_text("a;b\n1;2\n")
    result = dropzone.run_once(
        Settings(root=root, settle_seconds=0),
        {"vornamen": get_dataset("vornamen")},
        ledger=ledger,
        portal=None,
        notifier=quiet,
        dry_run=True,
    )
    [outcome] = result.outcomes
    assert (outcome.status, outcome.exit_code) == ("rejected", 2)
    filed = Path(outcome.filed_as)
    assert filed.parent == root / "gibt-es-nicht" / "abgelehnt"
    assert filed.read_text() == "a;b\n1;2\n"
    assert "gehört zu keinem Datensatz" in Path(outcome.reports[0]).read_text(encoding="utf-8")


def test_a_crash_after_claiming_leaves_the_file_queued_and_the_next_pass_resumes(
    tmp_path, ledger, quiet
) -> None:
    root = tmp_path / "dropzone"
    folder = root / "vornamen"
    folder.mkdir(parents=True)
    (folder / "Vornamen_2024_weiblich.csv").write_bytes(VALID_2021_W)
    # the process claims and dies before processing: the file is in the queue
    [item] = dropzone.poll(folder, StabilityWatch(0))[0]
    assert item.path.read_bytes() == VALID_2021_W
    (folder / "Vornamen_2025_weiblich.csv").write_bytes(VALID_2021_W + b"")  # dropped later
    result = dropzone.run_once(
        Settings(root=root, settle_seconds=0),
        {"vornamen": get_dataset("vornamen")},
        ledger=ledger,
        portal=None,
        notifier=quiet,
        dry_run=True,
    )
    # the queued file goes first, then the new one
    assert [o.file for o in result.outcomes] == [
        "Vornamen_2024_weiblich.csv",
        "Vornamen_2025_weiblich.csv",
    ]
    assert {o.status for o in result.outcomes} == {"dry_run"}


def test_storage_failure_keeps_the_file_queued(tmp_path, ledger, quiet) -> None:
    root = tmp_path / "dropzone"
    folder = root / "vornamen"
    folder.mkdir(parents=True)
    (folder / "abgelehnt").write_text("not a folder")  # writing reports must fail
    (folder / "Vornamen_2020_weiblich.csv").write_text("Name;Anzahl\nAnna;0\n", encoding="utf-8")
    (folder / "archiv").mkdir()
    (folder / QUEUE_DIR).mkdir()
    item = dropzone.claim(folder / "Vornamen_2020_weiblich.csv")
    outcomes = dropzone.process_queue(
        get_dataset("vornamen"), folder, ledger=ledger, portal=None, notifier=quiet, dry_run=True
    )
    [outcome] = outcomes
    assert (outcome.status, outcome.exit_code) == ("queued", 4)
    assert item.path.exists()


def test_set_aside_unknown_reports_to_the_team_and_leaves_dataset_folders_alone(
    tmp_path, smtp_server
) -> None:
    root = tmp_path / "dropzone"
    (root / "vornamen").mkdir(parents=True)
    (root / "vornamen" / "Vornamen_2024.csv").write_bytes(VALID_2021_W)
    (root / "vornamn").mkdir()
    (root / "vornamn" / "Vornamen_2024.csv").write_bytes(VALID_2021_W)
    settings = MailSettings(host="127.0.0.1", port=smtp_server.port, team="team@example.org")
    result = dropzone.set_aside_unknown(
        Settings(root=root, settle_seconds=0), ["vornamen"], notifier=Notifier(settings=settings)
    )
    [outcome] = result.outcomes
    assert outcome.dataset == "vornamn" and outcome.notified == ["team@example.org"]
    assert (root / "vornamen" / "Vornamen_2024.csv").exists()  # the trigger's job, not ours
    [mail] = smtp_server.messages
    assert "vornamen" in mail.get_body(("plain",)).get_content()  # the folders that exist
    assert len(list(mail.iter_attachments())) == 2


def test_a_wrong_type_is_recorded_in_the_ledger_and_set_aside(tmp_path, ledger, quiet) -> None:
    dataset = get_dataset("vornamen")
    item = _drop(tmp_path / "vornamen", "Vornamen_2024.xlsx", b"PK\x03\x04")
    outcome = dropzone.process_item(dataset, item, ledger=ledger, portal=None, notifier=quiet)
    assert (outcome.status, outcome.exit_code) == ("rejected", 2)
    assert Path(outcome.filed_as).parent == tmp_path / "vornamen" / "abgelehnt"
    [attempt] = ledger.history("vornamen")
    assert attempt.status == "rejected" and "Dateityp .xlsx" in attempt.error
    assert attempt.inputs[0]["queued_as"] == item.id


def test_a_dropped_set_that_was_not_archived_is_not_silently_replaced(tmp_path, ledger) -> None:
    from etl.errors import ConfigError

    dataset = get_dataset("vornamen")
    record = {"name": "Vornamen_2024_weiblich.csv", "sha256": "0" * 64, "origin": "dropzone"}
    attempt = ledger.begin("vornamen", "r1", inputs=[record])
    ledger.finish(attempt, status="success")  # no archived copy
    with pytest.raises(ConfigError, match="not all of its inputs were archived"):
        pipeline.dropped_input_set(ledger, dataset)
    item = _drop(tmp_path / "vornamen", "Vornamen_2025_weiblich.csv", VALID_2021_W)
    with pytest.raises(ConfigError, match="not all of its inputs were archived"):
        dropzone.prepare(dataset, item, ledger)
    assert item.path.exists()  # stays queued; the team is told by the caller
