"""#openwednesday on the real local CKAN: queued datasets are published private, the
Wednesday release makes the next ready one public (anonymous `package_show` sees it),
records it and drafts the announcement; later publishes keep it public; a dataset whose
last validation failed is skipped with a reason; an empty queue is reported, exit 0.

The in-process calls take a fixed Wednesday as their clock; the CLI runs use the real
time, and nothing asserted about them depends on it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import ckanapi
import pytest

from etl import release
from etl.ledger import Ledger
from etl.metadata import extras_of
from etl.notify import MailSettings, Notifier
from etl.registry import Dataset, load_dataset_file
from tests.integration.conftest import harvest_cli, show

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY = dt.datetime(2025, 3, 12, 8, 0, tzinfo=BERLIN)
TEAM = "opendata-team@duesseldorf.de"
INVALID_AREAS = "Stadtbezirk;Flaeche in Quadratkilometern\n01;-11,3\n"


def is_public(anonymous: ckanapi.RemoteCKAN, dataset_id: str) -> bool:
    """Whether a visitor without token sees the package (CKAN answers 403 when private)."""
    try:
        return show(anonymous, dataset_id)["private"] is False
    except ckanapi.NotAuthorized:
        return False


class Rhythm:
    """Queued copies of registered datasets in one private registry, work dir and portal."""

    def __init__(self, private_registry, portal_stack, smtp_server, monkeypatch) -> None:
        self._make = private_registry
        self.portal = portal_stack
        self.smtp = smtp_server
        self.monkeypatch = monkeypatch
        self.env: dict[str, str] = {}

    def queued(self, source_id: str, order: int | None = None) -> str:
        dataset_id, env = self._make(source_id)
        path = Path(env["HARVEST_REGISTRY"]) / f"{dataset_id}.yaml"
        extra = "\nrelease: queued\n" + (f"release_order: {order}\n" if order else "")
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
        self.env = {
            **env,
            **self.smtp.env,
            "CKAN_URL": self.portal.url,
            "CKAN_API_TOKEN": self.portal.editor_token,
        }
        # in-process calls share the CLI's work dir (ledger locks live there)
        self.monkeypatch.setenv("HARVEST_WORK_DIR", env["HARVEST_WORK_DIR"])
        return dataset_id

    def cli(self, *args: str):
        return harvest_cli(*args, env=self.env)

    def publish(self, dataset_id: str, *files: str) -> None:
        result = self.cli("publish", dataset_id, *files)
        assert result.returncode == 0, result.stdout + result.stderr

    @property
    def work(self) -> Path:
        return Path(self.env["HARVEST_WORK_DIR"])

    @property
    def drafts(self) -> Path:
        return self.work / "ankuendigungen"

    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{self.work / 'ledger.sqlite'}", archive_dir=self.work / "archive")

    def datasets(self) -> dict[str, Dataset]:
        folder = Path(self.env["HARVEST_REGISTRY"])
        return {p.stem: load_dataset_file(p) for p in sorted(folder.glob("[!_]*.yaml"))}

    def notifier(self) -> Notifier:
        env = self.smtp.env
        return Notifier(
            settings=MailSettings(
                host=env["HARVEST_SMTP_HOST"],
                port=int(env["HARVEST_SMTP_PORT"]),
                sender=env["HARVEST_SMTP_FROM"],
                team=env["HARVEST_TEAM_EMAIL"],
            )
        )

    def queue(self) -> list[dict]:
        result = self.cli("releases", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["queue"]


@pytest.fixture
def rhythm(private_registry, portal_stack, smtp_server, monkeypatch) -> Rhythm:
    return Rhythm(private_registry, portal_stack, smtp_server, monkeypatch)


def test_wednesday_release_makes_the_next_queued_dataset_public(
    rhythm, editor_portal, anonymous, portal_stack, smtp_server
) -> None:
    first = rhythm.queued("flaeche-stadtbezirke")
    second = rhythm.queued("feuerwehr-brandeinsaetze")
    rhythm.publish(first)
    rhythm.publish(second)
    # built, validated and on the portal, but private
    assert not is_public(anonymous, first) and not is_public(anonymous, second)
    assert editor_portal.call("package_show", {"id": first})["private"] is True
    queue = rhythm.queue()
    assert [(e["dataset"], e["validated"], e["on_portal"], e["ready"]) for e in queue] == [
        (first, True, True, True),  # built first: first come, first served
        (second, True, True, True),
    ]

    ledger = rhythm.ledger()
    outcome = release.release_next(
        rhythm.datasets(),
        ledger=ledger,
        portal=editor_portal,
        run_id="scheduled__2025-03-12T07:00:00+00:00",
        now=WEDNESDAY,
        notifier=rhythm.notifier(),
        folder=rhythm.drafts,
    )
    assert (outcome.status, outcome.dataset, outcome.skipped) == ("released", first, [])
    package = show(anonymous, first)
    assert package["private"] is False
    assert extras_of(package)["issued"] == "2025-03-12T07:00:00Z"  # published today
    assert not is_public(anonymous, second)

    # the release is recorded with the validated attempt it made public
    [record] = ledger.releases()
    assert (record.dataset, record.status, record.released_at) == (first, "released", WEDNESDAY)
    assert record.attempt_id == ledger.last_success(first).id
    draft = rhythm.drafts / f"2025-03-12_{first}.md"
    assert record.announcement == outcome.announcement_path == str(draft)
    text = draft.read_text(encoding="utf-8")
    assert text == outcome.announcement
    assert text.startswith("Neu im Open-Data-Portal Düsseldorf: Fläche der Stadtbezirke\n\n")
    assert f"Zum Datensatz: {portal_stack.url}/dataset/{first}" in text
    assert "#openwednesday" in text.splitlines()[-1]

    [mail] = smtp_server.to(TEAM)
    assert mail["Subject"] == (
        "[Open-Data-Pipeline] #openwednesday: „Fläche der Stadtbezirke“ ist öffentlich – "
        "Entwurf der Ankündigung"
    )
    body = mail.get_content().replace("\r\n", "\n")
    assert text.strip() in body
    assert f"registry/{first}.yaml" in body and "release: public" in body

    # Friday: the registry still says queued, the release record wins: nothing to write
    again = rhythm.cli("publish", first)
    assert again.returncode == 0, again.stderr
    assert f"package {first}: unchanged" in again.stdout
    assert "(1 read / 0 write calls" in again.stdout
    after = show(anonymous, first)
    assert after["private"] is False
    assert extras_of(after)["issued"] == "2025-03-12T07:00:00Z"

    # Airflow retries the task of the same run: it must not release a second dataset
    retried = release.release_next(
        rhythm.datasets(),
        ledger=ledger,
        portal=editor_portal,
        run_id="scheduled__2025-03-12T07:00:00+00:00",
        now=WEDNESDAY + dt.timedelta(minutes=10),
        notifier=rhythm.notifier(),
        folder=rhythm.drafts,
    )
    assert (retried.dataset, retried.repeated, retried.release_id) == (
        first,
        True,
        outcome.release_id,
    )
    assert not is_public(anonymous, second)

    # the next Wednesday, by hand: the next in line
    manual = rhythm.cli("release")
    assert manual.returncode == 0, manual.stdout + manual.stderr
    assert f"Freigegeben: „Brandeinsätze der Feuerwehr“ ({second}) ist öffentlich" in manual.stdout
    assert "#openwednesday" in manual.stdout
    assert is_public(anonymous, second)
    assert len(list(rhythm.drafts.glob(f"*_{second}.md"))) == 1

    # and then the queue is empty: reported, not an error
    empty = rhythm.cli("release")
    assert empty.returncode == 0, empty.stderr
    assert "Freigabe-Warteschlange leer: kein Datensatz freizugeben." in empty.stdout
    listed = json.loads(rhythm.cli("releases", "--json").stdout)
    assert listed["queue"] == []
    assert [(h["dataset"], h["status"]) for h in listed["history"]] == [
        (second, "released"),
        (first, "released"),
    ]
    for result in (again, manual, empty):
        assert portal_stack.editor_token not in result.stdout + result.stderr


def test_queued_dataset_whose_last_validation_failed_is_skipped_with_a_reason(
    rhythm, anonymous, smtp_server, tmp_path
) -> None:
    broken = rhythm.queued("flaeche-stadtbezirke", order=1)  # first in line by release_order
    fine = rhythm.queued("flaeche-stadtbezirke")
    rhythm.publish(fine)
    rhythm.publish(broken)
    bad = tmp_path / "flaeche.csv"
    bad.write_text(INVALID_AREAS, encoding="utf-8")
    invalid = rhythm.cli("publish", broken, str(bad))
    assert invalid.returncode == 1, invalid.stdout + invalid.stderr
    failed_attempt = rhythm.ledger().history(broken, limit=1)[0]
    assert failed_attempt.status == "invalid"
    # the portal still holds the last good version, but its latest validation failed
    queue = rhythm.queue()
    assert [(e["dataset"], e["validated"], e["on_portal"], e["ready"]) for e in queue] == [
        (broken, False, True, False),
        (fine, True, True, True),
    ]
    reason = queue[0]["reason"]
    assert reason.startswith(f"letzte Prüfung nicht bestanden (Lauf #{failed_attempt.id} vom ")
    assert "Status invalid" in reason and "Daten ungültig" in reason

    plan = rhythm.cli("release", "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"skipped {broken}: {reason}" in plan.stdout
    assert f"Probelauf: als Nächstes würde „Fläche der Stadtbezirke“ ({fine})" in plan.stdout
    assert "announcement draft (not written (dry run))" in plan.stdout
    assert not is_public(anonymous, fine)  # a dry run changes nothing
    assert not rhythm.drafts.exists() and smtp_server.messages == []
    assert rhythm.ledger().releases() == []

    done = rhythm.cli("release")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"skipped {broken}: {reason}" in done.stdout
    assert is_public(anonymous, fine) and not is_public(anonymous, broken)

    nothing = rhythm.cli("release")
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert f"skipped {broken}: {reason}" in nothing.stdout
    assert (
        "Kein Datensatz freigegeben: der einzige Datensatz in der Warteschlange ist nicht bereit."
        in nothing.stdout
    )
    assert not is_public(anonymous, broken)
    subjects = [m["Subject"] for m in smtp_server.to(TEAM)]
    assert subjects[-1] == "[Open-Data-Pipeline] #openwednesday: kein Datensatz freigegeben"
    assert reason in smtp_server.to(TEAM)[-1].get_content()

    # fixed: a valid publish makes it ready, and it goes out on the next call
    rhythm.publish(broken)
    fixed = rhythm.cli("release")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert is_public(anonymous, broken)
