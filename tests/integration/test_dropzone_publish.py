"""Drop folders against the real local CKAN and a real SMTP server, through `harvest dropzone
--once`: published, rejected with report and mail, duplicate, partial copies ignored, the
process killed between claim and archive, the portal down."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ckanapi
import pytest

from devstack.processes import free_port
from etl.ledger import Ledger
from etl.registry import get_dataset
from tests.conftest import PROJECT
from tests.integration.conftest import download, harvest_cli, show
from tests.integration.faultproxy import FaultProxy, Rule

SAMPLES = PROJECT / "samples" / "vornamen"
VALID = (SAMPLES / "Vornamen_2021_weiblich.csv").read_bytes()
AREAS = (PROJECT / "samples" / "flaeche-stadtbezirke" / "distric_area.csv").read_bytes()


class Drops:
    """One private dataset, its drop folder, and the CLI pointed at the test portal."""

    def __init__(
        self, source_id: str, dataset_id: str, env: dict[str, str], root: Path, portal_stack
    ) -> None:
        self.id = dataset_id
        self.maintainer = get_dataset(source_id).package.maintainer_email
        self.root = root
        self.folder = root / dataset_id
        self.portal = portal_stack
        self.env = {
            **env,
            "HARVEST_DROPZONE_SETTLE_SECONDS": "0",
            "CKAN_URL": portal_stack.url,
            "CKAN_API_TOKEN": portal_stack.editor_token,
        }

    def drop(self, name: str, content: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        path.write_bytes(content)
        return path

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return harvest_cli("dropzone", "--once", "--root", str(self.root), env={**self.env, **env})

    def files(self, sub: str = "") -> list[str]:
        folder = self.folder / sub if sub else self.folder
        return sorted(p.name for p in folder.iterdir() if p.is_file())

    def queued(self) -> list[Path]:
        return sorted((self.folder / ".warteschlange").glob("*/*"))

    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{Path(self.env['HARVEST_WORK_DIR']) / 'ledger.sqlite'}")

    def published_rows(self, anonymous) -> list[dict[str, str]]:
        package = show(anonymous, self.id)
        [table] = [r for r in package["resources"] if r["format"] == "CSV"]
        text = download(self.portal, table["url"]).decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text), delimiter=";"))


@pytest.fixture
def drops(portal_stack, private_registry, smtp_server, tmp_path):
    """``make(source_id) -> Drops`` for a unique copy of a registered dataset."""

    def make(source_id: str) -> Drops:
        dataset_id, env = private_registry(source_id)
        return Drops(
            source_id, dataset_id, {**env, **smtp_server.env}, tmp_path / "dropzone", portal_stack
        )

    return make


def test_valid_drop_is_published_archived_and_the_department_mailed(
    drops, anonymous, smtp_server
) -> None:
    d = drops("vornamen")
    d.drop("Vornamen_2024_weiblich.csv", VALID)
    result = d.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published" in result.stdout

    [archived] = d.files("archiv")
    assert archived.startswith("Vornamen_2024_weiblich__") and archived.endswith(".csv")
    assert (d.folder / "archiv" / archived).read_bytes() == VALID
    assert d.files() == [] and d.queued() == []
    # mode add: the dropped year joined the sample years
    assert {r["jahr"] for r in d.published_rows(anonymous)} >= {"2021", "2022", "2023", "2024"}

    [mail] = smtp_server.to(d.maintainer)
    assert mail["Subject"].startswith("Veröffentlicht:")
    assert mail["Reply-To"] == smtp_server.env["HARVEST_TEAM_EMAIL"]
    body = mail.get_content()
    assert "Vornamen_2024_weiblich.csv" in body and f"/dataset/{d.id}" in body

    [attempt] = d.ledger().successes(d.id)
    dropped = [i for i in attempt.inputs if i["origin"] == "dropzone"]
    assert [i["name"] for i in dropped] == ["Vornamen_2024_weiblich.csv"]
    assert all(Path(i["archived_path"]).is_file() for i in attempt.inputs)

    # a scheduled re-run publishes the current set (with the drop), not the samples
    rerun = harvest_cli("publish", d.id, env=d.env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{d.id}.csv: unchanged" in rerun.stdout
    assert "2024" in {r["jahr"] for r in d.published_rows(anonymous)}


def test_invalid_drop_is_set_aside_with_german_reports_and_mail(
    drops, anonymous, smtp_server
) -> None:
    d = drops("vornamen")
    bad = b"Name;Anzahl\nAnna;0\nMia;12\n"
    d.drop("Vornamen_2020_weiblich.csv", bad)
    result = d.run()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    rejected = d.files("abgelehnt")
    assert len(rejected) == 3
    name = next(n for n in rejected if n.endswith(".csv"))
    assert (d.folder / "abgelehnt" / name).read_bytes() == bad
    assert f"{name}.bericht.html" in rejected and f"{name}.bericht.json" in rejected
    report = json.loads((d.folder / "abgelehnt" / f"{name}.bericht.json").read_text("utf-8"))
    [problem] = report["problems"]
    assert (problem["file"], problem["row"], problem["column"], problem["found"]) == (
        "Vornamen_2020_weiblich.csv",
        2,
        "Anzahl",
        0,
    )
    assert problem["expected"] == "Anzahl ist mindestens 1"
    html = (d.folder / "abgelehnt" / f"{name}.bericht.html").read_text("utf-8")
    assert '<html lang="de">' in html and "Anzahl ist mindestens 1" in html

    [mail] = smtp_server.to(d.maintainer)
    assert mail["Subject"] == "Nicht veröffentlicht – bitte korrigieren: Vornamen_2020_weiblich.csv"
    assert "Zeile 2" in mail.get_body(("plain",)).get_content()
    attached = sorted(a.get_filename() for a in mail.iter_attachments())
    assert attached == [f"{name}.bericht.html", f"{name}.bericht.json"]

    with pytest.raises(ckanapi.NotFound):  # nothing reached the portal
        show(anonymous, d.id)
    [attempt] = d.ledger().history(d.id)
    assert attempt.status == "invalid"


def test_same_bytes_again_are_archived_as_duplicate_and_publish_nothing(
    drops, anonymous, smtp_server
) -> None:
    d = drops("flaeche-stadtbezirke")  # mode replace
    d.drop("flaeche.csv", AREAS)
    assert d.run().returncode == 0
    before = show(anonymous, d.id)["metadata_modified"]

    d.drop("flaeche_kopie.csv", AREAS)
    result = d.run()
    assert result.returncode == 0, result.stderr
    assert "duplicate" in result.stdout
    duplicate = [n for n in d.files("archiv") if n.startswith("flaeche_kopie__")]
    assert len(duplicate) == 1 and duplicate[0].endswith("__duplikat.csv")
    assert show(anonymous, d.id)["metadata_modified"] == before
    assert [a.status for a in d.ledger().history(d.id)] == ["success"]  # no new attempt
    subjects = [m["Subject"] for m in smtp_server.to(d.maintainer)]
    assert subjects[-1].startswith("Keine Änderung:")


def test_partial_copy_is_ignored_until_renamed(drops, anonymous) -> None:
    d = drops("flaeche-stadtbezirke")
    d.drop("flaeche.csv.part", AREAS[: len(AREAS) // 2])
    result = d.run()
    assert result.returncode == 0
    assert "nothing to do" in result.stdout
    assert d.files() == ["flaeche.csv.part"] and d.queued() == []
    with pytest.raises(ckanapi.NotFound):
        show(anonymous, d.id)

    (d.folder / "flaeche.csv.part").write_bytes(AREAS)  # the copy completes …
    (d.folder / "flaeche.csv.part").rename(d.folder / "flaeche.csv")  # … and is renamed
    result = d.run()
    assert result.returncode == 0, result.stderr
    assert len(d.published_rows(anonymous)) == 10  # ten Stadtbezirke


def test_process_killed_between_claim_and_archive_then_next_run_resumes(
    drops, anonymous, portal_stack, smtp_server
) -> None:
    d = drops("vornamen")
    d.drop("Vornamen_2024_weiblich.csv", VALID)
    with FaultProxy(portal_stack.url) as proxy:
        # hold the first upload until the process is killed: it never reaches CKAN
        hold = Rule("/resource_create", times=1, delay=60, drop=True)
        proxy.add(hold)
        process = subprocess.Popen(
            [sys.executable, "-m", "etl.cli", "dropzone", "--once", "--root", str(d.root)],
            cwd=PROJECT,
            env={**os.environ, **d.env, "CKAN_URL": proxy.url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while hold.times and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hold.times == 0, "the upload never started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    # killed after the claim, before filing: the bytes wait in the hidden queue
    [queued] = d.queued()
    assert queued.name == "Vornamen_2024_weiblich.csv" and queued.read_bytes() == VALID
    assert d.files() == [] and d.files("archiv") == [] and d.files("abgelehnt") == []
    assert smtp_server.messages == []

    result = d.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert d.queued() == []
    [archived] = d.files("archiv")
    assert (d.folder / "archiv" / archived).read_bytes() == VALID
    package = show(anonymous, d.id)
    assert sorted(r["name"] for r in package["resources"]) == [f"{d.id}.csv", f"{d.id}.json"]
    assert "2024" in {r["jahr"] for r in d.published_rows(anonymous)}
    assert [m["Subject"][:14] for m in smtp_server.to(d.maintainer)] == ["Veröffentlicht"]


def test_portal_down_keeps_the_file_queued_and_tells_only_the_team(
    drops, anonymous, smtp_server
) -> None:
    d = drops("flaeche-stadtbezirke")
    d.drop("flaeche.csv", AREAS)
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens: connection refused
    result = d.run(CKAN_URL=down)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "queued" in result.stdout
    assert [p.name for p in d.queued()] == ["flaeche.csv"]
    assert d.files("abgelehnt") == [] and d.files("archiv") == []  # not the department's fault
    assert smtp_server.to(d.maintainer) == []
    [alert] = smtp_server.to(smtp_server.env["HARVEST_TEAM_EMAIL"])
    assert "flaeche.csv" in alert["Subject"] and "PortalError" in alert["Subject"]
    assert "bleibt in der Warteschlange" in alert.get_content()

    result = d.run()  # the portal is back: the queued file goes through
    assert result.returncode == 0, result.stdout + result.stderr
    assert d.queued() == [] and len(d.files("archiv")) == 1
    assert len(d.published_rows(anonymous)) == 10
    assert [m["Subject"][:14] for m in smtp_server.to(d.maintainer)] == ["Veröffentlicht"]


def test_files_dropped_together_are_published_one_after_the_other_in_drop_order(
    drops, anonymous
) -> None:
    d = drops("vornamen")
    d.drop("Vornamen_2024_weiblich.csv", VALID)
    time.sleep(0.05)  # completed later: dropped later
    d.drop("Vornamen_2025_weiblich.csv", VALID.replace(b"\n", b"\r\n"))
    result = d.run()
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = reversed(d.ledger().successes(d.id))
    assert [i["name"] for i in first.inputs if i["origin"] == "dropzone"] == [
        "Vornamen_2024_weiblich.csv"
    ]
    assert sorted(i["name"] for i in second.inputs if i["origin"] == "dropzone") == [
        "Vornamen_2024_weiblich.csv",
        "Vornamen_2025_weiblich.csv",
    ]
    assert {"2024", "2025"} <= {r["jahr"] for r in d.published_rows(anonymous)}
