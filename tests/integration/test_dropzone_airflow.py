"""End to end on a real Airflow (scheduler, triggerer, dag-processor, api-server; LocalExecutor)
against the test CKAN: files dropped into a watched folder start asset-triggered runs that
publish them, one after the other in drop order, with the outcome in each run's note."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from devstack.airflow import start_airflow
from tests.conftest import PROJECT
from tests.integration.conftest import download, show

SAMPLE = PROJECT / "samples" / "vornamen" / "Vornamen_2021_weiblich.csv"
DEADLINE = 60.0
"""The contract: a dropped file starts its DAG run within a minute."""


def wait_until(condition, timeout: float, what: str, pause: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def drop(folder: Path, name: str, content: bytes) -> float:
    """Copy like a careful client: write under .part, rename when complete."""
    partial = folder / f"{name}.part"
    partial.write_bytes(content)
    partial.rename(folder / name)
    return time.monotonic()


@pytest.fixture
def airflow_stack(portal_stack, private_registry, smtp_server, tmp_path):
    dataset_id, env = private_registry("vornamen")
    root = tmp_path / "dropzone"
    stack = start_airflow(
        tmp_path / "airflow",
        portal_url=portal_stack.url,
        portal_token=portal_stack.editor_token,
        work_dir=Path(env["HARVEST_WORK_DIR"]),
        api_port=None,
        extra_env={
            **env,
            **smtp_server.env,
            "HARVEST_DROPZONE": str(root),
            "HARVEST_DROPZONE_POLL_SECONDS": "2",
            "HARVEST_DROPZONE_SETTLE_SECONDS": "2",
            # re-parse soon after unpausing: the watcher of a paused DAG is not started
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        },
    )
    try:
        yield stack, dataset_id, root / dataset_id
    finally:
        stack.stop()


def test_dropped_files_reach_ckan_through_asset_triggered_runs_in_drop_order(
    airflow_stack, anonymous, portal_stack, smtp_server, harvest_report
) -> None:
    stack, dataset_id, folder = airflow_stack
    stack.wait_for_dag(dataset_id)
    stack.unpause(dataset_id)
    # the trigger runs in the triggerer once the active DAG is parsed; it creates the folder
    wait_until(lambda: (folder / ".warteschlange").is_dir(), 180, "the drop-folder trigger")
    # unpausing queues the run of the last scheduled Friday (from the samples): let it end
    wait_until(
        lambda: all(r["state"] in ("success", "failed") for r in stack.runs(dataset_id)),
        300,
        "the scheduled run",
        pause=2,
    )
    scheduled = {r["dag_run_id"] for r in stack.runs(dataset_id)}

    first = SAMPLE.read_bytes()
    second = SAMPLE.read_bytes().replace(b"\n", b"\r\n")  # other bytes, same content
    dropped_at = drop(folder, "Vornamen_2024_weiblich.csv", first)
    drop(folder, "Vornamen_2023_weiblich.csv", second)

    def drop_runs() -> list[dict]:
        runs = [r for r in stack.runs(dataset_id) if r["dag_run_id"] not in scheduled]
        return sorted(runs, key=lambda r: r["run_after"])

    first_run = wait_until(lambda: drop_runs()[:1], DEADLINE + 30, "a run for the dropped file")[0]
    started_after = time.monotonic() - dropped_at
    assert first_run["run_type"] == "asset_triggered"
    assert started_after <= DEADLINE, f"run started {started_after:.0f} s after the drop"

    done = stack.wait_for_run(dataset_id, first_run["dag_run_id"], timeout=300)
    published_after = time.monotonic() - dropped_at
    assert done["state"] == "success", stack.task_states(dataset_id, first_run["dag_run_id"])
    harvest_report(
        "drop folder → CKAN through Airflow",
        f"run started {started_after:.1f} s after the drop, data on the portal after "
        f"{published_after:.1f} s",
    )
    assert "Vornamen_2024_weiblich.csv" in done["note"]
    assert "veröffentlicht" in done["note"]

    # the second file gets its own run after the first (max_active_runs=1, head first)
    second_run = wait_until(lambda: drop_runs()[1:2], 120, "a run for the second file")[0]
    done_second = stack.wait_for_run(dataset_id, second_run["dag_run_id"], timeout=300)
    assert done_second["state"] == "success"
    assert "Vornamen_2023_weiblich.csv" in done_second["note"]
    assert done_second["start_date"] >= done["end_date"]

    archived = sorted(p.name for p in (folder / "archiv").iterdir())
    assert [n.split("__")[0] for n in archived] == [
        "Vornamen_2023_weiblich",
        "Vornamen_2024_weiblich",
    ]
    assert not any((folder / ".warteschlange").iterdir())
    assert [p.name for p in folder.iterdir() if p.is_file()] == []

    # both years joined the published set (mode add), next to the sample years
    package = show(anonymous, dataset_id)
    [table] = [r for r in package["resources"] if r["format"] == "CSV"]
    rows = list(
        csv.DictReader(
            io.StringIO(download(portal_stack, table["url"]).decode("utf-8-sig")), delimiter=";"
        )
    )
    years = {row["jahr"] for row in rows}
    assert {"2021", "2022", "2023", "2024"} <= years

    mails = smtp_server.to("standesamt@duesseldorf.de")
    assert [m["Subject"] for m in mails] == [
        f"Veröffentlicht: {package['title']} (Vornamen_2024_weiblich.csv)",
        f"Veröffentlicht: {package['title']} (Vornamen_2023_weiblich.csv)",
    ]
    assert f"/dataset/{dataset_id}" in mails[0].get_content()

    # an invalid file: set aside with its report by the validate task, the run fails
    known = {r["dag_run_id"] for r in stack.runs(dataset_id)}
    drop(folder, "Vornamen_2020_weiblich.csv", b"Name;Anzahl\nAnna;0\n")
    bad_run = wait_until(
        lambda: [r for r in stack.runs(dataset_id) if r["dag_run_id"] not in known],
        DEADLINE + 30,
        "a run for the invalid file",
    )[0]
    done_bad = stack.wait_for_run(dataset_id, bad_run["dag_run_id"], timeout=300)
    assert done_bad["state"] == "failed"
    assert stack.task_states(dataset_id, bad_run["dag_run_id"])["validate"] == "failed"
    assert "Vornamen_2020_weiblich.csv" in done_bad["note"] and "abgelehnt" in done_bad["note"]
    rejected = sorted(p.name for p in (folder / "abgelehnt").iterdir())
    assert len(rejected) == 3 and rejected[0].startswith("Vornamen_2020_weiblich__")
    assert smtp_server.to("standesamt@duesseldorf.de")[-1]["Subject"].startswith(
        "Nicht veröffentlicht"
    )
    # the portal kept the last good version
    assert [r["hash"] for r in show(anonymous, dataset_id)["resources"]] == [
        r["hash"] for r in package["resources"]
    ]
