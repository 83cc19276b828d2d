"""Drop-to-portal latency: a file lands in a watched folder, how long until the new
data is readable on the portal.

Real parts only: the local CKAN, Airflow 3 (scheduler, triggerer, dag-processor,
api-server; LocalExecutor) with the drop-folder trigger at its production settings
(scan every 5 s, a file counts as complete after 5 s unchanged). Each drop adds one
year of first names (the dataset's drop mode is ``add``); the clock stops when an
anonymous download of the published CSV contains that year.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench.harness import PROJECT, Context, Section, Target, fmt_s
from devstack.airflow import start_airflow

SOURCE = "vornamen"
SAMPLE = PROJECT / "samples" / "vornamen" / "Vornamen_2021_weiblich.csv"


def _private_registry(directory: Path) -> tuple[str, dict[str, str]]:
    """A copy of the vornamen dataset under a fresh id (package, DAG and folder name)."""
    dataset_id = f"{SOURCE}-bench-{uuid.uuid4().hex[:6]}"
    registry, suites = directory / "registry", directory / "expectations"
    registry.mkdir(parents=True)
    suites.mkdir()
    shutil.copy(PROJECT / "registry" / "_portal.yaml", registry)
    text = (PROJECT / "registry" / f"{SOURCE}.yaml").read_text(encoding="utf-8")
    (registry / f"{dataset_id}.yaml").write_text(
        text.replace(f"id: {SOURCE}\n", f"id: {dataset_id}\n"), encoding="utf-8"
    )
    suite = json.loads((PROJECT / "expectations" / f"{SOURCE}.json").read_text(encoding="utf-8"))
    suite["name"] = dataset_id
    (suites / f"{dataset_id}.json").write_text(json.dumps(suite), encoding="utf-8")
    return dataset_id, {
        "HARVEST_REGISTRY": str(registry),
        "HARVEST_EXPECTATIONS": str(suites),
        "HARVEST_SOURCE_ROOT": str(PROJECT),
        "HARVEST_WORK_DIR": str(directory / "work"),
    }


def _wait(condition: Callable[[], Any], timeout: float, what: str, pause: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except requests.RequestException:  # a busy api-server answers late: ask again
            value = None
        if value:
            return value
        time.sleep(pause)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _published_years(portal_url: str, dataset_id: str) -> set[str]:
    response = requests.post(
        f"{portal_url}/api/3/action/package_show", json={"id": dataset_id}, timeout=30
    )
    if response.status_code != 200:
        return set()
    resources = response.json()["result"]["resources"]
    tables = [r for r in resources if (r.get("format") or "").upper() == "CSV"]
    if not tables:
        return set()
    content = requests.get(tables[0]["url"], timeout=30).content.decode("utf-8-sig")
    return {row["jahr"] for row in csv.DictReader(io.StringIO(content), delimiter=";")}


def run(ctx: Context) -> Section:
    drops = 10 if ctx.full else 2
    section = Section(key="latency", title=f"Drop-to-portal latency ({drops} drops)")
    portal = ctx.portal()
    dataset_id, env = _private_registry(ctx.scratch / "latency")
    from etl.registry import load_registry

    org = load_registry(Path(env["HARVEST_REGISTRY"]))[dataset_id].organization
    portal.organizations([(org.name, org.title)])
    root = ctx.scratch / "latency" / "dropzone"
    ctx.say("starting Airflow (scheduler, triggerer, dag-processor, api-server)")
    stack = start_airflow(
        ctx.scratch / "latency" / "airflow",
        portal_url=portal.url,
        portal_token=portal.stack.editor_token,
        work_dir=Path(env["HARVEST_WORK_DIR"]),
        api_port=None,
        extra_env={
            **env,
            "HARVEST_DROPZONE": str(root),
            # production scan and settle times (5 s each) stay as they are; only the
            # DAG folder is re-parsed sooner, so unpausing starts the watcher quickly
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        },
    )
    ctx.on_close(stack.stop)
    folder = root / dataset_id
    stack.wait_for_dag(dataset_id)
    stack.unpause(dataset_id)
    _wait(lambda: (folder / ".warteschlange").is_dir(), 180, "the drop-folder trigger")
    ctx.say("waiting for the catch-up run of the last scheduled Friday")
    _wait(
        lambda: (
            stack.runs(dataset_id)
            and all(r["state"] in ("success", "failed") for r in stack.runs(dataset_id))
        ),
        600,
        "the scheduled run",
        pause=2,
    )
    sample = SAMPLE.read_bytes()
    latencies: list[float] = []
    started_after: list[float] = []
    for number in range(drops):
        year = str(2000 + number)  # years the samples do not have (2021–2023)
        known = {r["dag_run_id"] for r in stack.runs(dataset_id)}
        name = f"Vornamen_{year}_weiblich.csv"
        partial = folder / f"{name}.part"
        partial.write_bytes(sample)
        dropped = time.monotonic()
        partial.rename(folder / name)  # lands complete, as a careful copy does
        run: dict[str, Any] | None = None
        while True:
            try:
                if run is None:
                    fresh = [r for r in stack.runs(dataset_id) if r["dag_run_id"] not in known]
                    if fresh:
                        run = fresh[0]
                        started_after.append(time.monotonic() - dropped)
                if year in _published_years(portal.url, dataset_id):
                    break
            except requests.RequestException:
                pass  # a busy server answers late: ask again
            if time.monotonic() - dropped > 300:
                raise TimeoutError(f"drop {name}: not on the portal after 300 s")
            time.sleep(0.25)
        latencies.append(time.monotonic() - dropped)
        ctx.say(f"  drop {number + 1}/{drops}: on the portal after {latencies[-1]:.1f} s")
        if run is not None:  # let the run finish (mail, archive) before the next drop
            stack.wait_for_run(dataset_id, run["dag_run_id"], timeout=300)
    med, worst = statistics.median(latencies), max(latencies)
    section.row("Drops", str(drops))
    section.row("Median drop → readable on the portal", fmt_s(med))
    section.row("Worst", fmt_s(worst))
    section.row("Best", fmt_s(min(latencies)))
    if started_after:
        section.row("Median drop → DAG run created", fmt_s(statistics.median(started_after)))
    section.targets = [Target("median drop-to-portal latency", med, 30.0, "s", "<")]
    section.figures = {
        "latencies_s": latencies,
        "run_created_after_s": started_after,
        "median_s": med,
        "worst_s": worst,
        "poll_seconds": 5.0,
        "settle_seconds": 5.0,
    }
    section.notes = [
        "Airflow 3 with LocalExecutor on the same machine as CKAN; the drop-folder trigger "
        "(AssetWatcher) scans every 5 s and waits until a file is unchanged for 5 s, so "
        "about 5–10 s of each figure is that deliberate wait for complete files.",
        "Measured from the rename of a complete file into the watched folder to the moment "
        "an anonymous download of the published CSV contains the dropped year.",
    ]
    return section
