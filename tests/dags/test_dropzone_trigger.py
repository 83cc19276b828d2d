"""The drop-folder trigger and the DAGs' schedule: cron or a dropped file; the trigger claims
files (never deletes them) and announces the queue head."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from harvest_airflow.triggers import CLASSPATH, DropFolderTrigger

from etl import dropzone


def make(folder: Path, **kwargs) -> DropFolderTrigger:
    options = {"poll_seconds": 0.05, "settle_seconds": 0.0, "retry_seconds": 3600.0, **kwargs}
    return DropFolderTrigger(dataset_id="vornamen", folder=str(folder), **options)


async def next_event(events, timeout: float = 5.0):
    return await asyncio.wait_for(events.__anext__(), timeout)


def test_serializes_to_its_own_classpath_and_kwargs(tmp_path) -> None:
    trigger = make(tmp_path)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert DropFolderTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_claims_without_deleting_and_announces_each_new_head(tmp_path) -> None:
    folder = tmp_path / "vornamen"

    async def scenario() -> None:
        events = make(folder).run()
        waiting = asyncio.ensure_future(next_event(events, timeout=10))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing dropped: no event
        folder.mkdir(exist_ok=True)
        (folder / "Vornamen_2024_weiblich.csv.part").write_text("copy in progress")
        (folder / "Vornamen_2024_weiblich.csv.part").rename(folder / "Vornamen_2024_weiblich.csv")
        first = (await waiting).payload
        assert first["dataset"] == "vornamen"
        assert first["file"] == "Vornamen_2024_weiblich.csv"
        [item] = dropzone.queue(folder)
        assert item.id == first["queued_as"]
        assert item.path.read_text() == "copy in progress"  # claimed, not deleted

        (folder / "Vornamen_2023_weiblich.csv").write_text("second")
        second = asyncio.ensure_future(next_event(events))
        await asyncio.sleep(0.3)
        assert not second.done()  # claimed behind the head: no new event yet
        assert [i.name for i in dropzone.queue(folder)] == [
            "Vornamen_2024_weiblich.csv",
            "Vornamen_2023_weiblich.csv",
        ]
        # a run files the head: the next file becomes the head and is announced
        shutil.move(item.path, folder / "archiv" / item.name)
        assert (await second).payload["file"] == "Vornamen_2023_weiblich.csv"
        await events.aclose()

    asyncio.run(scenario())


def test_an_unchanged_head_is_announced_again_after_retry_seconds(tmp_path) -> None:
    folder = tmp_path / "vornamen"
    folder.mkdir()
    (folder / "a.csv").write_text("1")

    async def scenario() -> None:
        events = make(folder, retry_seconds=0.3).run()
        first = await next_event(events)
        again = await next_event(events)  # e.g. its run failed on the portal
        assert first.payload["queued_as"] == again.payload["queued_as"]
        await events.aclose()

    asyncio.run(scenario())


def test_dag_runs_on_cron_or_its_drop_folder(monkeypatch, tmp_path) -> None:
    from airflow.sdk import AssetOrTimeSchedule
    from harvest_airflow.factory import build_dag

    from etl.registry import get_dataset

    monkeypatch.setenv("HARVEST_DROPZONE", str(tmp_path))
    monkeypatch.setenv("HARVEST_DROPZONE_POLL_SECONDS", "2")
    dag = build_dag(get_dataset("vornamen"))
    timetable = dag.timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    asset = timetable.asset_condition
    assert asset.name == "dropzone-vornamen"
    [watcher] = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs["folder"] == str(tmp_path / "vornamen")
    assert kwargs["poll_seconds"] == 2.0
    assert not (tmp_path / "vornamen").exists()  # building the DAG touches no folder


def test_on_demand_dataset_runs_only_on_its_drop_folder() -> None:
    from airflow.sdk import AssetOrTimeSchedule
    from harvest_airflow.factory import build_dag

    from etl.registry import get_dataset

    dag = build_dag(get_dataset("vornamen").model_copy(update={"schedule": None}))
    assert not isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.asset_condition.name == "dropzone-vornamen"


def test_maintenance_dag_looks_at_folders_that_are_no_dataset() -> None:
    from harvest_airflow.factory import DROPZONE_DAG_ID, build_dropzone_dag

    dag = build_dropzone_dag()
    assert dag.dag_id == DROPZONE_DAG_ID
    assert [t.task_id for t in dag.tasks] == ["set_aside_unknown"]
    assert dag.max_active_runs == 1 and dag.catchup is False
